//! What the CLI prints: a table or sentence for people, one JSON document with `--json`.

use serde_json::{json, Value};
use sqlkeep::format_size as human_bytes;
use sqlkeep::{
    Channel, Diff, Health, HistoryEntry, Manifest, NotifyResult, PushReport, RestoreOutcome,
    RotationPlan, RowChange, Stats, TickOutcome, Verification, Zone,
};

pub struct Output {
    pub json: bool,
}

/// A progress bar on stderr, or `None` when output is not a terminal.
pub fn progress_bar(enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} backing up [{bar:40}] {percent:>3}% {pos}/{len} pages, {eta} left",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

fn local(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

fn verification_words(m: &Manifest) -> String {
    match &m.verification {
        Some(v) if v.ok => format!("verified ({})", v.level.as_str()),
        Some(_) => "verification FAILED".to_string(),
        None => "not verified".to_string(),
    }
}

fn verified_word(m: &Manifest) -> &'static str {
    match &m.verification {
        None => "unverified",
        Some(v) if v.ok => "verified",
        Some(_) => "CORRUPT",
    }
}

pub fn restore_json(o: &RestoreOutcome) -> Value {
    serde_json::to_value(o).expect("a restore outcome serialises")
}

impl Output {
    fn print_json(&self, v: &impl serde::Serialize) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).expect("output serialises")
        );
    }

    pub fn backup(&self, m: &Manifest) {
        if self.json {
            return self.print_json(m);
        }
        if let Some(inc) = &m.incremental {
            let own = inc.chain.last().map_or(0, |l| l.pages);
            println!(
                "backup {} written: {} of {own} changed pages, restores to {} from {} files, {} ms, {}",
                m.id,
                human_bytes(m.size_bytes),
                human_bytes(m.raw_size_bytes),
                inc.chain.len(),
                m.duration_ms,
                verification_words(m)
            );
            return;
        }
        println!(
            "backup {} written: {} from {} ({:.1}x), {} ms, {}",
            m.id,
            human_bytes(m.size_bytes),
            human_bytes(m.raw_size_bytes),
            m.raw_size_bytes as f64 / m.size_bytes.max(1) as f64,
            m.duration_ms,
            verification_words(m)
        );
    }

    pub fn exported(&self, o: &sqlkeep::ExportOutcome) {
        if self.json {
            return self.print_json(o);
        }
        println!(
            "exported {} to {}: {} ({}), restores to {}",
            o.id,
            o.path.display(),
            human_bytes(o.size_bytes),
            o.compression.as_str(),
            human_bytes(o.raw_size_bytes)
        );
    }

    /// The public key on stdout (for scripts), the file and the warning on stderr.
    pub fn new_key(&self, k: &sqlkeep::NewKey) {
        if self.json {
            return self.print_json(k);
        }
        eprintln!("sqlkeep: wrote a new key to {}", k.path.display());
        eprintln!("warning: {}", k.warning);
        println!("{}", k.public_key);
    }

    pub fn list(&self, list: &[Manifest]) {
        if self.json {
            return self.print_json(&list);
        }
        if list.is_empty() {
            println!("no backups yet");
            return;
        }
        println!(
            "{:<48} {:<13} {:<19} {:>9} {:<10} LABEL",
            "ID", "KIND", "CREATED", "SIZE", "STATUS"
        );
        for m in list {
            let lock = if m.is_encrypted() { "encrypted " } else { "" };
            // SIZE is what the backup added: for an incremental one, its changed pages.
            let inc = m.incremental.as_ref().map_or(String::new(), |i| {
                format!("incremental, {} files ", i.chain.len())
            });
            println!(
                "{:<48} {:<13} {:<19} {:>9} {:<10} {lock}{inc}{}",
                m.id,
                m.kind.as_str(),
                local(&m.created_at),
                human_bytes(m.size_bytes),
                verified_word(m),
                m.label.as_deref().unwrap_or("")
            );
        }
    }

    pub fn verifications(&self, results: &[(String, Verification)]) {
        if self.json {
            let v: Vec<Value> = results.iter().map(|(id, v)| v.report(id)).collect();
            return self.print_json(&v);
        }
        if results.is_empty() {
            println!("no backups to verify");
        }
        for (id, v) in results {
            println!(
                "{} {id}: {} ({})",
                if v.ok { "ok     " } else { "CORRUPT" },
                v.detail,
                v.level.as_str()
            );
        }
    }

    pub fn restore(&self, o: &RestoreOutcome) {
        if self.json {
            return self.print_json(&restore_json(o));
        }
        match &o.safety_backup {
            Some(s) => println!(
                "restored {} into {} in {} ms; the previous content is in safety backup {}",
                o.id,
                o.target.display(),
                o.duration_ms,
                s.id
            ),
            None => println!(
                "restored {} into {} in {} ms",
                o.id,
                o.target.display(),
                o.duration_ms
            ),
        }
    }

    pub fn table_restore(&self, o: &sqlkeep::TableRestoreOutcome) {
        if self.json {
            return self.print_json(o);
        }
        println!(
            "restored from {} into {} in {} ms: {}{}",
            o.id,
            o.target.display(),
            o.duration_ms,
            o.summary(),
            o.safety_backup
                .as_ref()
                .map(|s| format!("; the previous content is in safety backup {}", s.id))
                .unwrap_or_default()
        );
    }

    pub fn deleted(&self, m: &Manifest) {
        if self.json {
            return self.print_json(&json!({"deleted": m.id, "freed_bytes": m.size_bytes}));
        }
        println!("deleted {} ({})", m.id, human_bytes(m.size_bytes));
    }

    pub fn stats(&self, s: &Stats) {
        if self.json {
            return self.print_json(s);
        }
        let t = |t: &Option<chrono::DateTime<chrono::Utc>>| {
            t.as_ref().map(local).unwrap_or_else(|| "-".into())
        };
        println!(
            "backups:          {} ({})",
            s.count,
            human_bytes(s.total_bytes)
        );
        println!(
            "on disk:          {} for {} of databases ({} incremental)",
            human_bytes(s.bytes_on_disk),
            human_bytes(s.raw_bytes),
            s.incremental
        );
        println!("oldest / newest:  {} / {}", t(&s.oldest), t(&s.newest));
        println!("last success:     {}", t(&s.last_success));
        println!("last failure:     {}", t(&s.last_failure));
        println!(
            "runs:             {} ({} failed, success rate {})",
            s.runs,
            s.failures,
            s.success_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into())
        );
        println!(
            "average duration: {}",
            s.average_duration_ms
                .map(|d| format!("{d} ms"))
                .unwrap_or_else(|| "-".into())
        );
        for o in &s.offsite {
            println!("offsite:          {}", o.describe());
        }
    }

    /// What a push did, one line per remote.
    pub fn push_reports(&self, reports: &[PushReport]) {
        if self.json {
            return self.print_json(&reports);
        }
        if reports.is_empty() {
            println!("no remotes (set `remotes` in the configuration)");
        }
        for r in reports {
            let copied = format!(
                "{} copied ({}), {} deleted there, {} missing",
                r.copied.len(),
                human_bytes(r.copied_bytes),
                r.deleted.len(),
                r.missing
            );
            match &r.error {
                None => println!("ok      {}: {copied}", r.remote),
                Some(e) => println!("FAILED  {}: {copied}: {e}", r.remote),
            }
        }
    }

    /// The health verdict: the verdict and headline, then one line per reason.
    pub fn health(&self, h: &Health) {
        if self.json {
            return self.print_json(h);
        }
        println!("{}: {}", h.verdict.as_str(), h.headline);
        for r in &h.reasons {
            println!("  {:<8} {}", r.level.as_str(), r.message);
        }
    }

    pub fn diff(&self, d: &Diff) {
        if self.json {
            return self.print_json(d);
        }
        println!("{} → {}: {}", d.from, d.to, d.summary());
        let differing: Vec<_> = d.tables.iter().filter(|t| t.differs()).collect();
        if !differing.is_empty() {
            println!(
                "{:<32} {:>10} {:>10} {:>10} {:>10} {:>10}",
                "TABLE", "ROWS FROM", "ROWS TO", "ADDED", "REMOVED", "CHANGED"
            );
        }
        for t in differing {
            println!(
                "{:<32} {:>10} {:>10} {:>10} {:>10} {:>10}",
                t.name, t.rows.from, t.rows.to, t.added, t.removed, t.changed
            );
        }
        for c in &d.schema {
            println!("{:<8} {:<32} {}", c.kind, c.name, c.change);
        }
    }

    pub fn diff_rows(&self, rows: &[RowChange]) {
        if self.json {
            return self.print_json(&rows);
        }
        let text = |m: &Option<serde_json::Map<String, Value>>| {
            m.as_ref().map(|m| Value::Object(m.clone()).to_string())
        };
        for r in rows {
            let key = Value::Object(r.key.clone());
            match (text(&r.from), text(&r.to)) {
                (Some(a), Some(b)) => println!("{:<8} {key}\n  from {a}\n  to   {b}", r.change),
                (Some(a), None) | (None, Some(a)) => println!("{:<8} {key}\n  {a}", r.change),
                (None, None) => println!("{:<8} {key}", r.change),
            }
        }
    }

    pub fn channels(&self, channels: &[Channel]) {
        if self.json {
            let v: Vec<_> = channels
                .iter()
                .map(|c| {
                    json!({"kind": c.kind(), "channel": c.describe(),
                                "on": c.on.iter().map(|o| o.as_str()).collect::<Vec<_>>()})
                })
                .collect();
            return self.print_json(&v);
        }
        if channels.is_empty() {
            println!("no notification channels (set `notify.channels` in the configuration)");
        }
        for c in channels {
            let on: Vec<&str> = c.on.iter().map(|o| o.as_str()).collect();
            println!("{:<40} on {}", c.describe(), on.join(", "));
        }
    }

    pub fn notify_results(&self, results: &[NotifyResult]) {
        if self.json {
            return self.print_json(&results);
        }
        if results.is_empty() {
            println!("no notification channels (set `notify.channels` in the configuration)");
        }
        for r in results {
            match &r.error {
                None => println!("ok      {}", r.channel),
                Some(e) => println!("FAILED  {}: {e}", r.channel),
            }
        }
    }

    pub fn history(&self, h: &[HistoryEntry]) {
        if self.json {
            return self.print_json(&h);
        }
        if h.is_empty() {
            println!("no backup runs logged yet");
            return;
        }
        println!(
            "{:<19} {:<13} {:<10} {:>9} {:>8}  ID / ERROR",
            "TIME", "KIND", "STATUS", "SIZE", "MS"
        );
        for e in h {
            println!(
                "{:<19} {:<13} {:<10} {:>9} {:>8}  {}",
                local(&e.time),
                e.kind.as_str(),
                e.status.as_str(),
                e.size_bytes.map(human_bytes).unwrap_or_default(),
                e.duration_ms,
                if e.ok {
                    e.id.clone().unwrap_or_default()
                } else {
                    e.error.clone().unwrap_or_default()
                }
            );
        }
    }
}

impl Output {
    pub fn schedule(&self, runs: &[chrono::DateTime<chrono::Utc>], zone: Zone, schedule: &str) {
        let texts: Vec<String> = runs.iter().map(|t| zone.fixed(*t).to_rfc3339()).collect();
        if self.json {
            return self.print_json(&texts);
        }
        if texts.is_empty() {
            eprintln!("schedule {schedule:?} never runs");
        }
        for t in texts {
            println!("{t}");
        }
    }

    pub fn rotation(&self, plan: &RotationPlan) {
        if self.json {
            return self.print_json(plan);
        }
        for e in &plan.entries {
            println!(
                "{:<6} {:<48} {:<13} {}",
                match e.action {
                    sqlkeep::Action::Keep => "keep",
                    sqlkeep::Action::Delete => "delete",
                },
                e.id,
                e.kind.as_str(),
                e.reason
            );
        }
        println!(
            "{} {} backups, {} ({} kept)",
            if plan.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            plan.deleted.len(),
            human_bytes(plan.freed_bytes),
            plan.kept.len()
        );
        if let Some(budget) = plan.max_total_bytes {
            println!(
                "the kept backups take {} of a budget of {}",
                human_bytes(plan.total_bytes),
                human_bytes(budget)
            );
        }
        if let Some(w) = &plan.warning {
            eprintln!("warning: {w}");
        }
    }

    pub fn tick(&self, t: &TickOutcome) {
        let (state, detail) = match t {
            TickOutcome::Idle => ("idle", "nothing is due".to_string()),
            TickOutcome::Covered => (
                "covered",
                "the due slot already has a scheduled backup".to_string(),
            ),
            TickOutcome::Skipped => (
                "skipped",
                "the missed slot was skipped (catch_up is off)".to_string(),
            ),
            TickOutcome::BackedUp(m) => ("backed_up", m.id.clone()),
            TickOutcome::Failed(e, retry) => (
                "failed",
                format!(
                    "{e}{}",
                    retry
                        .map(|r| format!("; retry due at {}", sqlkeep::format_time(&r)))
                        .unwrap_or_default()
                ),
            ),
            TickOutcome::Busy => (
                "busy",
                "another scheduler holds the schedule lock".to_string(),
            ),
            TickOutcome::Cancelled => (
                "cancelled",
                "the backup was cancelled; the next slot runs as usual".to_string(),
            ),
        };
        if self.json {
            let backup = match t {
                TickOutcome::BackedUp(m) => serde_json::to_value(m).ok(),
                _ => None,
            };
            return self.print_json(&json!({"outcome": state, "detail": detail, "backup": backup}));
        }
        println!("{state}: {detail}");
    }
}
