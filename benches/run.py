#!/usr/bin/env python3
"""sqlkeep benchmarks, side by side with what applications do today.

Usage: benches/run.py [--sizes 100,1024] [--rounds 3] [--writer-mb 200] [--out FILE]

Needs: target/release/sqlkeep and target/release/examples/make_sample_db (scripts/bench
builds them), python3, sqlite3, gzip, pigz, zstd.

For each database size, every candidate runs once per round, in the same order each
round (alternating, so a slow period of the machine hits all of them alike); the table
reports medians. Each run is a child process measured with wait4: wall time, CPU time
(user + system, children included) and peak RSS. MB/s is source bytes / wall time.
Ratios compare wall time with the Python stdlib path (sqlite3 backup + gzip level 6).
"""

import argparse
import re
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLKEEP = ROOT / "target" / "release" / "sqlkeep"
MAKE_DB = ROOT / "target" / "release" / "examples" / "make_sample_db"
DATA = ROOT / "bench-data"

STDLIB_BACKUP = r"""
import gzip, os, shutil, sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
raw = out + ".raw"
s = sqlite3.connect(src)
d = sqlite3.connect(raw)
s.backup(d)
d.close(); s.close()
with open(raw, "rb") as f, gzip.open(out, "wb", compresslevel=6) as g:
    shutil.copyfileobj(f, g, 1 << 20)
os.remove(raw)
"""

STDLIB_STEPWISE = r"""
import sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
s = sqlite3.connect(src)
d = sqlite3.connect(out)
s.backup(d, pages=1024)
"""


def run_measured(argv, cwd=None, timeout=None, stdout=None):
    """Runs argv as a child; returns (wall_s, cpu_s, peak_rss_mb, returncode). Dirty pages
    of earlier runs are flushed first, so no run pays for another's writeback."""
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if deadline and time.perf_counter() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and deadline is None:
        raise RuntimeError(f"{argv[:3]} failed ({code}): {err}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, code


def sqlkeep_config(workdir, db, name, **settings):
    cfg = {"database": str(db), "backup_dir": str(workdir / name), "schedule": "off"}
    cfg.update(settings)
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def fresh_dir(path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def ensure_db(size_mb, mode, seed=1):
    DATA.mkdir(exist_ok=True)
    db = DATA / f"sample-{size_mb}mb-{mode}.db"
    if not db.exists():
        subprocess.run([str(MAKE_DB), str(db), str(size_mb), mode, str(seed)], check=True)
    return db


def gzip_ratio(db):
    """Ratio of gzip -6 on the raw database, to show the data is realistic."""
    out = subprocess.run(f"gzip -6 -c '{db}' | wc -c", shell=True, check=True, capture_output=True, text=True)
    return db.stat().st_size / int(out.stdout.strip())


def backup_candidates(db, work):
    """name -> (function returning argv, cleanup)."""
    out = work / "out"
    cands = {}

    def sk(name, **settings):
        cfg = sqlkeep_config(work, db, name, **settings)

        def argv():
            fresh_dir(work / name)
            return [str(SQLKEEP), "--config", str(cfg), "backup"]

        return argv

    cands["sqlkeep gzip-6, verify off"] = sk("sk-gz-off", verify_after_backup="off")
    cands["sqlkeep gzip-6, full verify (default)"] = sk("sk-gz-full")
    cands["sqlkeep zstd-3, verify off"] = sk("sk-zst-off", compression="zstd", verify_after_backup="off")
    cands["sqlkeep zstd-3, full verify"] = sk("sk-zst-full", compression="zstd")
    # The same four with age encryption to one public key (the key file is made once).
    key = work / "bench-key.txt"
    if not key.exists():
        subprocess.run([str(SQLKEEP), "keygen", "--out", str(key)], check=True, capture_output=True)
    public = next(l.split()[-1] for l in key.read_text().splitlines() if l.startswith("# public key:"))
    age = {"recipients": [public], "identity_file": str(key)}
    cands["sqlkeep gzip-6 + age, verify off"] = sk("sk-gz-age-off", verify_after_backup="off", encryption=age)
    cands["sqlkeep gzip-6 + age, full verify"] = sk("sk-gz-age-full", encryption=age)
    cands["sqlkeep zstd-3 + age, verify off"] = sk("sk-zst-age-off", compression="zstd", verify_after_backup="off", encryption=age)
    cands["sqlkeep zstd-3 + age, full verify"] = sk("sk-zst-age-full", compression="zstd", encryption=age)

    def stdlib():
        fresh_dir(out)
        return [sys.executable, "-c", STDLIB_BACKUP, str(db), str(out / "x.sqlite3.gz")]

    cands["stdlib: Connection.backup + gzip.open(6)"] = stdlib

    def cli_gzip():
        fresh_dir(out)
        x = out / "x.sqlite3"
        return ["sh", "-c", f"sqlite3 '{db}' \".backup '{x}'\" && gzip -6 '{x}'"]

    cands["sqlite3 .backup && gzip -6"] = cli_gzip

    def pigz():
        fresh_dir(out)
        return ["sh", "-c", f"pigz -6 -p 2 -c '{db}' > '{out}/x.gz'"]

    cands["limit: pigz -6 -p 2 (compression only)"] = pigz

    def zstd():
        fresh_dir(out)
        return ["sh", "-c", f"zstd -q -3 -T2 -c '{db}' > '{out}/x.zst'"]

    cands["limit: zstd -3 -T2 (compression only)"] = zstd
    return cands


def restore_candidates(db, work):
    """Restore and verification of one gzip and one zstd backup made beforehand, against
    decompressing with the command-line tool and running integrity_check, which is what
    sqlkeep's restore replaces (issue 19)."""
    cands = {}
    target = work / "restored.db"

    def clear(path):
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    for compression, tool in (("gzip", "gunzip"), ("zstd", "zstd -q -d")):
        cfg = sqlkeep_config(work, db, f"sk-restore-{compression}", compression=compression)
        fresh_dir(work / f"sk-restore-{compression}")
        r = subprocess.run([str(SQLKEEP), "--config", str(cfg), "--json", "backup"], check=True, capture_output=True)
        m = json.loads(r.stdout)
        data = work / f"sk-restore-{compression}" / m["file"]

        def sk_verify(cfg=cfg, m=m):
            return [str(SQLKEEP), "--config", str(cfg), "verify", m["id"]]

        def sk_restore(cfg=cfg, m=m, extra=()):
            clear(target)
            return [str(SQLKEEP), "--config", str(cfg), "restore", m["id"], "--to", str(target), "--yes", *extra]

        def manual(data=data, tool=tool):
            clear(target)
            return ["sh", "-c", f"{tool} -c '{data}' > '{target}' && sqlite3 '{target}' 'PRAGMA integrity_check' >/dev/null"]

        # Into the live database: a copy of the sample (made before the clock starts)
        # whose backups folder holds the backup; the restore takes its safety backup of
        # the copy first, as it always does.
        live = work / f"live-{compression}.db"
        shutil.copyfile(db, live)
        live_cfg = sqlkeep_config(work, live, f"sk-live-{compression}", compression=compression)
        fresh_dir(work / f"sk-live-{compression}")
        r = subprocess.run([str(SQLKEEP), "--config", str(live_cfg), "--json", "backup"], check=True, capture_output=True)
        live_id = json.loads(r.stdout)["id"]

        def sk_live(live=live, live_cfg=live_cfg, live_id=live_id, compression=compression):
            for f in (work / f"sk-live-{compression}").glob("*pre-restore*"):
                f.unlink()
            shutil.copyfile(db, live)
            return [str(SQLKEEP), "--config", str(live_cfg), "restore", live_id, "--yes"]

        cands[f"sqlkeep verify (full), {compression}"] = sk_verify
        cands[f"sqlkeep restore --to, {compression}"] = sk_restore
        cands[f"sqlkeep restore --to --paranoid, {compression}"] = lambda f=sk_restore: f(extra=("--paranoid",))
        cands[f"sqlkeep restore into the live database, {compression}"] = sk_live
        cands[f"{tool.split()[0]} -c && sqlite3 integrity_check, {compression}"] = manual
    return cands


def diff_candidates(db, work):
    """`sqlkeep diff` of a backup against a live copy where 0.1% of the employees rows
    changed since (issue 18's target: at most 2x a full verification of one backup),
    beside that full verification, on the same backup."""
    live = work / "diff-live.db"
    shutil.copyfile(db, live)
    cfg = sqlkeep_config(work, live, "sk-diff")
    fresh_dir(work / "sk-diff")
    r = subprocess.run([str(SQLKEEP), "--config", str(cfg), "--json", "backup"], check=True, capture_output=True)
    backup_id = json.loads(r.stdout)["id"]
    subprocess.run(
        ["sqlite3", str(live), "UPDATE employees SET salary_cents = salary_cents + 1 WHERE id % 1000 = 0"],
        check=True,
    )
    return {
        "sqlkeep verify (full), the backup": lambda: [str(SQLKEEP), "--config", str(cfg), "verify", backup_id],
        "sqlkeep diff, the backup vs the database (0.1% of employees changed)": lambda: [
            "sh",
            "-c",
            f"'{SQLKEEP}' --config '{cfg}' diff {backup_id} >/dev/null; test $? -le 1",
        ],
    }


def bench(cands, rounds, source_bytes, only=None):
    if only:
        cands = {n: f for n, f in cands.items() if re.search(only, n)}
    results = {name: [] for name in cands}
    for r in range(rounds):
        for name, make_argv in cands.items():
            wall, cpu, rss, _ = run_measured(make_argv())
            results[name].append((wall, cpu, rss))
            print(f"  round {r + 1} {name}: {wall:.2f} s, cpu {cpu:.2f} s, rss {rss:.0f} MB", flush=True)
    table = {}
    for name, runs in results.items():
        table[name] = {
            "wall": statistics.median(x[0] for x in runs),
            "cpu": statistics.median(x[1] for x in runs),
            "rss": max(x[2] for x in runs),
            "mbps": source_bytes / 1e6 / statistics.median(x[0] for x in runs),
            "runs": [round(x[0], 2) for x in runs],
        }
    return table


WRITER = r"""
import json, sqlite3, sys, time
db, stop_file, mode = sys.argv[1], sys.argv[2], sys.argv[3]
c = sqlite3.connect(db, timeout=5, isolation_level=None)
lat, busy, n = [], 0, 0
t_end = None
import os
start = time.perf_counter()
while not os.path.exists(stop_file):
    t0 = time.perf_counter()
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("UPDATE employees SET salary_cents = salary_cents + 1 WHERE id = ?", (1 + n % 1000,))
        c.execute("COMMIT")
        n += 1
    except sqlite3.OperationalError as e:
        busy += 1
        try:
            c.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass
    lat.append(time.perf_counter() - t0)
    time.sleep(0.002)
elapsed = time.perf_counter() - start
lat.sort()
print(json.dumps({"commits": n, "busy": busy, "elapsed": elapsed,
                  "p99_ms": 1000 * lat[int(len(lat) * 0.99) - 1] if lat else 0,
                  "max_ms": 1000 * lat[-1] if lat else 0}))
"""


def writer_impact(size_mb, work, cap_s=60):
    rows = []
    for mode in ("wal", "delete"):
        db = ensure_db(size_mb, mode, seed=2)
        cands = {
            "none (writer alone, 5 s)": None,
            "sqlkeep gzip-6, full verify": [str(SQLKEEP), "--config", str(sqlkeep_config(work, db, f"wi-{mode}")), "--json", "backup"],
            "stdlib: backup() + gzip(6)": [sys.executable, "-c", STDLIB_BACKUP, str(db), str(work / "wi.sqlite3.gz")],
            "stdlib: backup(pages=1024)": [sys.executable, "-c", STDLIB_STEPWISE, str(db), str(work / "wi-step.sqlite3")],
        }
        for name, argv in cands.items():
            fresh_dir(work / f"wi-{mode}")
            for f in ("wi.sqlite3.gz", "wi-step.sqlite3", "wi.sqlite3.gz.raw"):
                (work / f).unlink(missing_ok=True)
            stop = work / "stop-writer"
            stop.unlink(missing_ok=True)
            w = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop), mode], stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            completed = True
            copy_ms = None
            if argv is None:
                time.sleep(5)
                wall = 5.0
            else:
                out_path = work / "wi-out.json"
                with open(out_path, "w") as out_file:
                    wall, _, _, code = run_measured(argv, timeout=cap_s, stdout=out_file)
                completed = code == 0
                if "--json" in argv and completed:
                    copy_ms = json.loads(out_path.read_text())["copy_ms"]
            stop.write_text("")
            out = json.loads(w.communicate()[0])
            rows.append({
                "mode": mode, "candidate": name, "backup_s": wall, "completed": completed,
                "commits_per_s": out["commits"] / out["elapsed"], "p99_ms": out["p99_ms"],
                "max_ms": out["max_ms"], "busy": out["busy"], "copy_ms": copy_ms,
            })
            print(f"  writer {mode} {name}: {rows[-1]}", flush=True)
    return rows


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}, sqlite3 CLI {subprocess.run(['sqlite3', '--version'], capture_output=True, text=True).stdout.split()[0]}"


def markdown(report):
    lines = []
    lines.append(f"Machine: {report['machine']}  ")
    lines.append(f"Command: `{report['command']}`  ")
    lines.append(f"Date: {report['date']}")
    for size in report["sizes"]:
        if not size.get("backup"):
            continue
        lines.append("")
        lines.append(f"### Backup of a {size['size_mb']} MB database ({report.get('mode', 'delete').upper()} journal mode, gzip -6 ratio of the raw file {size['gzip_ratio']:.1f}:1)")
        lines.append("")
        lines.append(f"Median of {report['rounds']} alternating rounds.")
        lines.append("")
        lines.append("| candidate | wall s | CPU s | source MB/s | peak RSS MB | wall vs stdlib |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        base = size["backup"].get("stdlib: Connection.backup + gzip.open(6)", {}).get("wall")
        for name, r in size["backup"].items():
            vs = f"{r['wall'] / base:.2f}x" if base else "-"
            lines.append(f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['mbps']:.0f} | {r['rss']:.0f} | {vs} |")
        pairs = [(n, n.replace(",", " + age,", 1)) for n in size["backup"] if " + age" not in n]
        pairs = [(a, b) for a, b in pairs if b != a and b in size["backup"]]
        if pairs:
            lines.append("")
            lines.append("| encryption's cost | wall s clear | wall s + age | wall ratio | CPU ratio | rounds clear / + age |")
            lines.append("|---|---:|---:|---:|---:|---|")
            for a, b in pairs:
                ra, rb = size["backup"][a], size["backup"][b]
                lines.append(f"| {a} | {ra['wall']:.2f} | {rb['wall']:.2f} | {rb['wall'] / ra['wall']:.3f}x | {rb['cpu'] / ra['cpu']:.3f}x | {ra['runs']} / {rb['runs']} |")
        if size.get("restore"):
            lines.append("")
            lines.append("| restore / verification | wall s | CPU s | source MB/s | peak RSS MB | wall vs tool + integrity_check |")
            lines.append("|---|---:|---:|---:|---:|---:|")
            for name, r in size["restore"].items():
                compression = name.rsplit(", ", 1)[-1]
                base = next((x["wall"] for n, x in size["restore"].items() if "integrity_check" in n and n.endswith(compression)), None)
                vs = f"{r['wall'] / base:.2f}x" if base else "-"
                lines.append(f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['mbps']:.0f} | {r['rss']:.0f} | {vs} |")
    for size in report["sizes"]:
        if size.get("diff"):
            lines.append("")
            lines.append(f"### Diff of a {size['size_mb']} MB database (median of {report['rounds']} alternating rounds)")
            lines.append("")
            lines.append("| candidate | wall s | CPU s | source MB/s | peak RSS MB | wall vs full verification |")
            lines.append("|---|---:|---:|---:|---:|---:|")
            base = next((x["wall"] for n, x in size["diff"].items() if n.startswith("sqlkeep verify")), None)
            for name, r in size["diff"].items():
                vs = f"{r['wall'] / base:.2f}x" if base else "-"
                lines.append(f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['mbps']:.0f} | {r['rss']:.0f} | {vs} |")
    if report.get("writer"):
        lines.append("")
        lines.append(f"### Writer impact ({report['writer_mb']} MB database, a writer process committing one-row transactions every 2 ms, busy timeout 5 s)")
        lines.append("")
        lines.append("| journal mode | backup | backup s | source read transaction ms | commits/s | p99 commit ms | worst stall ms | BUSY errors |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for r in report["writer"]:
            backup_s = "-" if r["candidate"].startswith("none") else (f"{r['backup_s']:.2f}" if r["completed"] else f"did not finish in {r['backup_s']:.0f}")
            copy = "-" if r.get("copy_ms") is None else str(r["copy_ms"])
            lines.append(f"| {r['mode']} | {r['candidate']} | {backup_s} | {copy} | {r['commits_per_s']:.0f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {r['busy']} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writer-mb", type=int, default=200)
    ap.add_argument("--writer-rounds", type=int, default=3)
    ap.add_argument("--mode", default="delete", choices=("delete", "wal"),
                    help="journal mode of the sample database of the backup, restore and diff tables")
    ap.add_argument("--out", default=str(ROOT / "bench-data" / "report.json"))
    ap.add_argument("--only", default=None, help="run only the candidates whose name matches this regex")
    ap.add_argument("--no-restore", action="store_true", help="skip the restore/verification table")
    ap.add_argument("--no-backup", action="store_true", help="skip the backup table")
    ap.add_argument("--no-diff", action="store_true", help="skip the diff table")
    args = ap.parse_args()
    for tool in ("sqlite3", "gzip", "pigz", "zstd"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run scripts/bench, which installs it")
    report = {
        "machine": machine(),
        "command": "scripts/bench " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "rounds": args.rounds,
        "sizes": [],
        "writer_mb": args.writer_mb,
        "mode": args.mode,
    }
    work = Path(tempfile.mkdtemp(prefix="sqlkeep-bench-", dir=DATA if DATA.exists() else None))
    try:
        for size_mb in [int(s) for s in args.sizes.split(",") if s]:
            db = ensure_db(size_mb, args.mode)
            print(f"== {size_mb} MB: {db}", flush=True)
            src = db.stat().st_size
            entry = {"size_mb": size_mb, "bytes": src, "gzip_ratio": gzip_ratio(db)}
            if not args.no_backup:
                entry["backup"] = bench(backup_candidates(db, work), args.rounds, src, args.only)
            if not args.no_restore:
                entry["restore"] = bench(restore_candidates(db, work), args.rounds, src, args.only)
            if not args.no_diff:
                entry["diff"] = bench(diff_candidates(db, work), args.rounds, src, args.only)
            report["sizes"].append(entry)
        if args.writer_mb:
            print(f"== writer impact, {args.writer_mb} MB", flush=True)
            report["writer"] = []
            for _ in range(args.writer_rounds):
                report["writer"] += writer_impact(args.writer_mb, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    md = markdown(report)
    (Path(args.out).with_suffix(".md")).write_text(md)
    print()
    print(md)


if __name__ == "__main__":
    main()
