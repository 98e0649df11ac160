#!/usr/bin/env python3
"""PostgreSQL backups (issue 17) against the pipeline people use today, side by side.

Usage: benches/postgres.py [--scale 64] [--rounds 3]

Needs target/release/sqlkeep (`cargo build --release --bin sqlkeep`), PostgreSQL's server
and client programs (Debian: postgresql) and gzip. Starts its own server on 127.0.0.1
(as the `postgres` user when run as root) with its data in /var/tmp/sqlkeep-bench-pg-<scale>, which is
kept between runs (`pgbench -i -s 64` is about 1 GB and takes a few minutes to make), and
stops it at the end.

Each round, in the same order, with `sync` before each run:
- `pg_dump | gzip -6 > file` (plain SQL, the FastAPI service's pipeline);
- `pg_dump -Fc` (its own zlib compression, the custom format sqlkeep also writes);
- `pg_dump -Fc -Z0 > /dev/null`: the dump alone, the floor of any pipeline built on it;
- `sqlkeep backup` with gzip, then with zstd, each with `verify_after_backup: quick` (the
  archive's checksum, full decompression and `pg_restore --list`; the pipelines above
  verify nothing), then gzip with the default full check (a restore into a scratch
  database with every row count compared) for what that costs.
Reports medians of wall time, the ratio to `pg_dump | gzip -6`, CPU time and peak RSS
(of the process and the children it waited for: pg_dump, psql).
"""

import argparse
import json
import os
import resource
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
DATA = ROOT / "bench-data"
USER = "postgres"


def bin_dir():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        sys.exit("PostgreSQL's server is not installed (apt-get install postgresql)")
    return versions[-1].parent


def as_server_user(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", USER, "--", *argv]
    return argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measured(argv, env, shell=False):
    """Wall, CPU and peak RSS (MB) of one command and the children it waited for."""
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{argv if not shell else argv[:80]} failed: {err[-2000:]}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not SQLKEEP.exists():
        sys.exit("build first: cargo build --release --bin sqlkeep")
    bins = bin_dir()
    # Outside the repository: the server's user must be able to reach its data folder.
    pgdata = Path(os.environ.get("SQLKEEP_BENCH_PGDATA", f"/var/tmp/sqlkeep-bench-pg-{args.scale}"))
    sock = Path(tempfile.mkdtemp(prefix="sqlkeep-bench-pg-"))
    os.chmod(sock, 0o777)
    DATA.mkdir(exist_ok=True)
    fresh = not (pgdata / "PG_VERSION").exists()
    if fresh:
        pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pgdata, USER)
        subprocess.run(as_server_user([str(bins / "initdb"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-D", str(pgdata)]),
                       check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = sock / "log"
    subprocess.run(as_server_user([str(bins / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w", "-t", "120",
                                   "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1", "start"]),
                   check=True, stdout=subprocess.DEVNULL)
    uri = f"postgresql://postgres@127.0.0.1:{port}/bench"
    env = dict(os.environ)
    out_dir = Path(tempfile.mkdtemp(prefix="sqlkeep-bench-pg-out-", dir=DATA))
    try:
        if fresh:
            subprocess.run(["psql", "-X", "-q", "-d", uri.replace("/bench", "/postgres"), "-c", "CREATE DATABASE bench"], check=True)
            print(f"pgbench -i -s {args.scale} (once; kept in {pgdata}) ...", flush=True)
            subprocess.run(["pgbench", "-i", "-q", "-s", str(args.scale), uri], check=True, stderr=subprocess.DEVNULL)
        size = int(subprocess.run(["psql", "-X", "-A", "-t", "-d", uri, "-c", "SELECT pg_database_size('bench')"],
                                  check=True, capture_output=True, text=True).stdout.strip())
        configs = {}
        for name, comp, verify in [("gzip", "gzip", "quick"), ("zstd", "zstd", "quick"), ("gzip-full", "gzip", "full")]:
            c = out_dir / f"{name}.json"
            c.write_text(json.dumps({"database": uri, "backup_dir": str(out_dir / name), "compression": comp,
                                     "verify_after_backup": verify, "retention": {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0}}))
            configs[name] = c
        candidates = [
            ("pg_dump | gzip -6 (plain SQL)", f"pg_dump -d '{uri}' | gzip -6 > '{out_dir}/plain.sql.gz'", True),
            ("pg_dump -Fc (its own zlib)", ["pg_dump", "-Fc", "-d", uri, "-f", str(out_dir / "custom.dump")], False),
            ("limit: pg_dump -Fc -Z0 > /dev/null (the dump alone)", f"pg_dump -Fc -Z0 -d '{uri}' > /dev/null", True),
            ("sqlkeep backup, gzip-6, verify quick", [str(SQLKEEP), "--config", str(configs["gzip"]), "backup"], False),
            ("sqlkeep backup, zstd-3, verify quick", [str(SQLKEEP), "--config", str(configs["zstd"]), "backup"], False),
            ("sqlkeep backup, gzip-6, full check (default)", [str(SQLKEEP), "--config", str(configs["gzip-full"]), "backup"], False),
        ]
        results = {name: [] for name, _, _ in candidates}
        for r in range(args.rounds):
            for name, argv, shell in candidates:
                results[name].append(run_measured(argv, env, shell))
                print(f"round {r + 1}: {name}: {results[name][-1][0]:.2f} s", flush=True)
        sizes = {
            "pg_dump | gzip -6 (plain SQL)": (out_dir / "plain.sql.gz").stat().st_size,
            "pg_dump -Fc (its own zlib)": (out_dir / "custom.dump").stat().st_size,
        }
        for config, (name, _, _) in zip(["gzip", "zstd", "gzip-full"], candidates[3:]):
            sizes[name] = max(f.stat().st_size for f in (out_dir / config).iterdir() if ".pgdump" in f.name)
        base = statistics.median(w for w, _, _ in results[candidates[0][0]])
        print(f"\npgbench scale {args.scale}: database {size / 1e6:.0f} MB on disk; PostgreSQL {bins.parent.name}; median of {args.rounds} rounds\n")
        print("| candidate | wall s | vs pg_dump \\| gzip -6 | CPU s | peak RSS MB | output MB | rounds (wall s) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for name, _, _ in candidates:
            walls = [w for w, _, _ in results[name]]
            wall = statistics.median(walls)
            cpu = statistics.median(c for _, c, _ in results[name])
            rss = max(m for _, _, m in results[name])
            print(f"| {name} | {wall:.2f} | {wall / base:.2f}x | {cpu:.2f} | {rss:.0f} | {sizes.get(name, 0) / 1e6:.0f} | {' '.join(f'{w:.2f}' for w in walls)} |")
    finally:
        subprocess.run(as_server_user([str(bins / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"]), stdout=subprocess.DEVNULL)
        shutil.rmtree(out_dir, ignore_errors=True)
        shutil.rmtree(sock, ignore_errors=True)


if __name__ == "__main__":
    main()
