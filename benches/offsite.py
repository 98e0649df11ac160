#!/usr/bin/env python3
"""Offsite copies (issue 13) against the tools people use today, side by side.

Usage: benches/offsite.py [--size-mb 1024] [--rounds 3] [--compression none]

Needs: target/release/sqlkeep and target/release/examples/make_sample_db (scripts/bench
builds them), an S3 server binary (s3s-fs: target/tools/bin/s3s-fs, installed by
scripts/test) and awscli in .venv (`scripts/venv awscli`).

A backup of the sample database is made once. Then, each round, in alternation:
- upload: `sqlkeep push` of that backup (multipart, SHA-256 checked) against
  `aws s3 cp` of the same file, to the same local S3 server (s3s-fs on 127.0.0.1,
  objects on the same disk);
- restore: `sqlkeep restore ID --remote NAME --to PATH` (download, full check, restore)
  against `aws s3 cp` of the object plus `sqlkeep restore ID --to PATH` of the local
  backup (download plus local restore).
Reports medians of wall time and the ratios the issue sets targets for (≤ 1.2x each).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQLKEEP = ROOT / "target" / "release" / "sqlkeep"
MAKE_DB = ROOT / "target" / "release" / "examples" / "make_sample_db"
S3S = Path(os.environ.get("SQLKEEP_S3S_FS", ROOT / "target" / "tools" / "bin" / "s3s-fs"))
AWS = ROOT / ".venv" / "bin" / "aws"
DATA = ROOT / "bench-data"
KEY, SECRET = "AKIABENCHKEY0000001", "bench-secret-not-real-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flush():
    subprocess.run(["sync"], check=True)


def timed(argv, env):
    flush()
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{argv[:3]} failed: {r.stderr.decode()[-2000:]}")
    return wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compression", default="none")
    args = ap.parse_args()

    DATA.mkdir(exist_ok=True)
    db = DATA / f"offsite-{args.size_mb}.db"
    if not db.exists():
        subprocess.run([MAKE_DB, db, str(args.size_mb), "wal", "1"], check=True)
    work = Path(tempfile.mkdtemp(prefix="offsite-bench-", dir=DATA))
    s3root = work / "s3"
    (s3root / "bench").mkdir(parents=True)
    port = free_port()
    server = subprocess.Popen(
        [S3S, "--host", "127.0.0.1", "--port", str(port), "--access-key", KEY, "--secret-key", SECRET, s3root],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        endpoint = f"http://127.0.0.1:{port}"
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
        config = work / "sqlkeep.json"
        config.write_text(json.dumps({
            "database": str(db), "backup_dir": str(work / "backups"),
            "compression": args.compression, "verify_after_backup": "quick",
            "remotes": [{"name": "bench", "url": "s3://bench/sqlkeep", "endpoint": endpoint, "allow_http": True}],
        }))
        local = work / "local.json"
        local.write_text(json.dumps({
            "database": str(db), "backup_dir": str(work / "backups"),
            "compression": args.compression, "verify_after_backup": "full",
        }))
        out = subprocess.run([SQLKEEP, "--config", local, "--json", "backup"], check=True,
                             capture_output=True, env=env)
        m = json.loads(out.stdout)
        data = work / "backups" / m["file"]
        size = data.stat().st_size
        print(f"backup {m['id']}: {size / 1e6:.0f} MB ({args.compression})", flush=True)
        aws = [AWS, "--endpoint-url", endpoint, "s3", "cp", "--only-show-errors"]
        rows = {k: [] for k in ("push", "awscp_up", "restore_remote", "awscp_down", "restore_local")}
        for r in range(args.rounds):
            shutil.rmtree(s3root / "bench" / "sqlkeep", ignore_errors=True)
            for f in (s3root).glob(".upload*"):
                f.unlink()
            (work / ".sqlkeep-remote-bench.json").unlink(missing_ok=True)
            rows["push"].append(timed([SQLKEEP, "--config", config, "push"], env))
            rows["awscp_up"].append(timed(aws + [data, f"s3://bench/awscp/{m['file']}"], env))
            for p in work.glob("restored*"):
                p.unlink()
            rows["restore_remote"].append(timed(
                [SQLKEEP, "--config", config, "restore", m["id"], "--remote", "bench",
                 "--to", work / "restored-remote.db", "--yes"], env))
            dl = work / "downloaded"
            shutil.rmtree(dl, ignore_errors=True)
            dl.mkdir()
            rows["awscp_down"].append(timed(aws + [f"s3://bench/awscp/{m['file']}", dl / m["file"]], env))
            rows["restore_local"].append(timed(
                [SQLKEEP, "--config", local, "restore", m["id"], "--to", work / "restored-local.db", "--yes"], env))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in rows.items()), flush=True)
        med = {k: statistics.median(v) for k, v in rows.items()}
        down_plus = [a + b for a, b in zip(rows["awscp_down"], rows["restore_local"])]
        print()
        print(f"| {size / 1e6:.0f} MB backup ({args.compression}), {args.rounds} rounds | wall s (median) | ratio | rounds |")
        print("|---|---:|---:|---|")
        fmt = lambda v: " ".join(f"{x:.2f}" for x in v)
        print(f"| `aws s3 cp` upload | {med['awscp_up']:.2f} | 1.00x | {fmt(rows['awscp_up'])} |")
        print(f"| `sqlkeep push` | {med['push']:.2f} | {med['push'] / med['awscp_up']:.2f}x | {fmt(rows['push'])} |")
        print(f"| `aws s3 cp` download + `sqlkeep restore --to` (local) | {statistics.median(down_plus):.2f} | 1.00x | {fmt(down_plus)} |")
        print(f"| `sqlkeep restore --remote --to` | {med['restore_remote']:.2f} | {med['restore_remote'] / statistics.median(down_plus):.2f}x | {fmt(rows['restore_remote'])} |")
        print(f"\n(download alone {fmt(rows['awscp_down'])} s; local restore alone {fmt(rows['restore_local'])} s)")
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
