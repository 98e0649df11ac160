#!/usr/bin/env python3
"""Incremental backups (issue 12) against full gzip backups, side by side on the 1 GB
benchmark database.

Usage: benches/incremental.py [--rounds 2] [--chain 30]

Needs target/release/sqlkeep (`cargo build --release --bin sqlkeep`) and
bench-data/sample-1024mb-delete.db (scripts/bench makes it). Works on a copy of the
database in bench-data/incremental/, which it removes at the end.

A "day" changes a share of the rows the way an application does: updates of random
employees (salary and notes), inserts of new employees with a document each (a tenth of
the updates), and a few deletes of documents; one transaction, committed.

Measured, each run a child process (wall time, peak RSS from wait4), `sync` before each:
- sizes: the bytes an incremental backup stores after a 0.1% day and after a 1% day,
  against a full gzip backup of the same database;
- time: an incremental backup after a 0.1% day, with the default verification, against a
  full gzip backup with the default verification, alternating, `--rounds` each;
- a chain: a full backup and then `--chain - 1` daily incremental backups at 0.1% a day
  (`verify_after_backup: quick` for speed, the last one with the default full check),
  and the bytes the folder then holds (`pieces/` and page hashes included) against one
  full gzip backup;
- restore: `restore --to` of the newest backup of that chain against `restore --to` of
  the full gzip backup, alternating, `--rounds` each.
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLKEEP = ROOT / "target" / "release" / "sqlkeep"
DATA = ROOT / "bench-data"
SOURCE = DATA / "sample-1024mb-delete.db"
WORK = DATA / "incremental"


def run_measured(argv):
    """Runs argv; returns (wall_s, peak_rss_mb, stdout)."""
    os.sync()
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {err}")
    return wall, ru.ru_maxrss / 1024.0, out


def config(name, **settings):
    cfg = {"database": str(WORK / "app.db"), "backup_dir": str(WORK / name), "schedule": "off"}
    cfg.update(settings)
    path = WORK / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def backup(cfg, *extra):
    wall, rss, out = run_measured([str(SQLKEEP), "--config", str(cfg), "--json", "backup", *extra])
    return wall, rss, json.loads(out)


def restore(cfg, backup_id):
    to = WORK / "restored.db"
    if to.exists():
        to.unlink()
    wall, rss, _ = run_measured([str(SQLKEEP), "--config", str(cfg), "restore", backup_id, "--to", str(to)])
    to.unlink()
    return wall, rss


def day(share, rng):
    con = sqlite3.connect(WORK / "app.db")
    (employees,) = con.execute("SELECT max(id) FROM employees").fetchone()
    (documents,) = con.execute("SELECT max(id) FROM documents").fetchone()
    n = max(1, int(1_404_000 * share))
    with con:
        for _ in range(n):
            con.execute(
                "UPDATE employees SET salary_cents = salary_cents + 100, notes = ? WHERE id = ?",
                (f"reviewed {rng.random():.6f}", rng.randint(1, employees)),
            )
        for i in range(max(1, n // 10)):
            cur = con.execute(
                "INSERT INTO employees (name, email, department_id, salary_cents, hired_on, notes)"
                " VALUES (?, ?, 1, 5000000, '2026-12-01', 'new')",
                (f"new {rng.random()}", f"n{rng.random()}@example.com"),
            )
            con.execute(
                "INSERT INTO documents (employee_id, title, created_at, body) VALUES (?, 'contract', '2026-12-01', ?)",
                (cur.lastrowid, rng.randbytes(2000)),
            )
        for _ in range(max(1, n // 100)):
            con.execute("DELETE FROM documents WHERE id = ?", (rng.randint(1, documents),))
    con.close()


def folder_bytes(path):
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.name != "sqlkeep-log.jsonl")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chain", type=int, default=30)
    args = ap.parse_args()
    if not SQLKEEP.exists() or not SOURCE.exists():
        sys.exit("needs target/release/sqlkeep and bench-data/sample-1024mb-delete.db (scripts/bench)")
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    shutil.copyfile(SOURCE, WORK / "app.db")
    rng = random.Random(12)
    full_cfg = config("full")
    inc_cfg = config("inc", incremental=True)
    report = {"rounds": args.rounds, "chain": args.chain}

    # Sizes and times: a full gzip backup and an incremental one after the same day.
    _, _, base = backup(inc_cfg)  # the incremental folder's full backup, with page hashes
    full_times, inc_times, inc_rss = [], [], []
    for r in range(args.rounds):
        day(0.001, rng)
        w, rss, m = backup(full_cfg)
        full_times.append(w)
        full_size = m["size_bytes"]
        full_id = m["id"]
        w, rss, m = backup(inc_cfg)
        assert "incremental" in m, m
        inc_times.append(w)
        inc_rss.append(rss)
        inc_small = m["size_bytes"]
    day(0.01, rng)
    _, _, m = backup(inc_cfg)
    inc_large = m["size_bytes"]
    report.update(
        full_gzip_bytes=full_size,
        incremental_0_1_bytes=inc_small,
        incremental_1_bytes=inc_large,
        full_gzip_s=full_times,
        incremental_s=inc_times,
        incremental_rss_mb=max(inc_rss),
    )
    print(json.dumps(report), flush=True)

    # A chain of daily backups at 0.1% a day.
    chain_quick = config("chain", incremental=True, verify_after_backup="quick")
    chain_full = config("chain", incremental=True)
    backup(chain_quick, "--full")
    newest = None
    for i in range(args.chain - 1):
        day(0.001, rng)
        _, _, newest = backup(chain_full if i == args.chain - 2 else chain_quick)
    assert len(newest["incremental"]["chain"]) == args.chain, len(newest["incremental"]["chain"])
    report.update(chain_folder_bytes=folder_bytes(WORK / "chain"))

    full_restore, chain_restore, restore_rss = [], [], []
    for _ in range(args.rounds):
        w, rss = restore(full_cfg, full_id)
        full_restore.append(w)
        restore_rss.append(rss)
        w, rss = restore(chain_full, newest["id"])
        chain_restore.append(w)
        restore_rss.append(rss)
    report.update(full_restore_s=full_restore, chain_restore_s=chain_restore, restore_rss_mb=max(restore_rss))
    print(json.dumps(report), flush=True)

    med = statistics.median
    rows = [
        ("stored bytes, 0.1% day", f"{inc_small / 1e6:.1f} MB", f"{inc_small / full_size:.1%} of a full gzip backup ({full_size / 1e6:.0f} MB)", "≤ 3%"),
        ("stored bytes, 1% day", f"{inc_large / 1e6:.1f} MB", f"{inc_large / full_size:.1%}", "≤ 25%"),
        (f"folder after {args.chain} daily backups at 0.1%", f"{report['chain_folder_bytes'] / 1e6:.0f} MB", f"{report['chain_folder_bytes'] / full_size:.2f}x one full gzip backup", "≤ 2x"),
        ("incremental backup, default verification", f"{med(inc_times):.2f} s", f"{med(inc_times) / med(full_times):.2f}x a full gzip backup ({med(full_times):.2f} s)", "≤ 0.5x"),
        (f"restore --to, newest of a {args.chain}-file chain", f"{med(chain_restore):.2f} s", f"{med(chain_restore) / med(full_restore):.2f}x a full backup's ({med(full_restore):.2f} s)", "≤ 1.5x"),
        ("peak RSS, incremental backup / restore", f"{max(inc_rss):.0f} / {max(restore_rss):.0f} MB", "", "≤ 64 MB"),
    ]
    print("| measure | value | ratio | target |\n|---|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    shutil.rmtree(WORK)


if __name__ == "__main__":
    main()
