#!/usr/bin/env python3
"""`sqlkeep serve` under load (issue 16): 50 clients polling status and listing backups
(each once a second, as dashboards do, over keep-alive connections) plus 5 Server-Sent
Events clients, during a backup of the 1 GB sample database; against the same backup with
no client. Reports the status latency (p50, p99, max), errors, the events each SSE client
received, and the backup's wall time with load / without.

Usage: benches/serve_load.py [--size-mb 1024] [--rounds 2] [--clients 50] [--sse 5]
Needs: target/release/sqlkeep and target/release/examples/make_sample_db (scripts/bench
builds them). No third-party Python packages.
"""

import argparse
import asyncio
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
DATA = ROOT / "bench-data"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def request(reader, writer, path, method="GET"):
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def poller(port, stop, latencies, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # Spread the clients over the second.
    await asyncio.sleep(os.urandom(1)[0] / 255)
    while not stop.is_set():
        t = time.perf_counter()
        try:
            if await request(reader, writer, "/api/status") != 200:
                errors.append("status")
            latencies.append(time.perf_counter() - t)
            if await request(reader, writer, "/api/backups?limit=20") != 200:
                errors.append("backups")
        except Exception as e:  # noqa: BLE001 - counted
            errors.append(repr(e))
            return
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
    writer.close()


async def sse(port, stop, counts, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await writer.drain()
    counts[i] = 0
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(reader.readline(), 0.5)
        except asyncio.TimeoutError:
            continue
        if not line:
            break
        if line.startswith(b"event: "):
            counts[i] += 1
    writer.close()


async def backup(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t = time.perf_counter()
    status = await request(reader, writer, "/api/backups?wait=true", "POST")
    wall = time.perf_counter() - t
    writer.close()
    if status != 201:
        sys.exit(f"backup answered {status}")
    return wall


async def loaded_round(port, clients, sse_clients):
    stop = asyncio.Event()
    latencies, errors, counts = [], [], {}
    tasks = [asyncio.create_task(poller(port, stop, latencies, errors)) for _ in range(clients)]
    tasks += [asyncio.create_task(sse(port, stop, counts, i)) for i in range(sse_clients)]
    await asyncio.sleep(2)
    wall = await backup(port)
    await asyncio.sleep(1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return wall, latencies, errors, counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--sse", type=int, default=5)
    args = ap.parse_args()
    DATA.mkdir(exist_ok=True)
    db = DATA / f"offsite-{args.size_mb}.db"
    if not db.exists():
        subprocess.run([MAKE_DB, db, str(args.size_mb), "wal", "1"], check=True)
    work = Path(tempfile.mkdtemp(prefix="serve-load-", dir=DATA))
    port = free_port()
    config = work / "sqlkeep.json"
    config.write_text(json.dumps({
        "database": str(db), "backup_dir": str(work / "backups"), "schedule": "off",
        "retention": {"auto": False}, "server": {"listen": f"127.0.0.1:{port}"},
    }))
    server = subprocess.Popen([SQLKEEP, "--config", config, "serve"], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        quiet, loaded, lat, errs, events = [], [], [], [], []
        for r in range(args.rounds):
            subprocess.run(["sync"], check=True)
            quiet.append(asyncio.run(backup(port)))
            subprocess.run(["sync"], check=True)
            wall, latencies, errors, counts = asyncio.run(loaded_round(port, args.clients, args.sse))
            loaded.append(wall)
            lat += latencies
            errs += errors
            events.append(sorted(counts.values()))
            print(f"round {r + 1}: quiet {quiet[-1]:.2f} s, loaded {wall:.2f} s, "
                  f"{len(latencies)} status requests, {len(errors)} errors, SSE events per client {events[-1]}",
                  flush=True)
        lat.sort()
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        print()
        print(f"| {args.size_mb} MB backup, {args.clients} polling clients + {args.sse} SSE, {args.rounds} rounds | value |")
        print("|---|---:|")
        print(f"| backup without clients (median s) | {statistics.median(quiet):.2f} |")
        print(f"| backup with clients (median s) | {statistics.median(loaded):.2f} |")
        print(f"| slowdown | {statistics.median(loaded) / statistics.median(quiet):.3f}x |")
        print(f"| status requests | {len(lat)} |")
        print(f"| status latency p50 / p99 / max (ms) | {p(0.5):.1f} / {p(0.99):.1f} / {lat[-1] * 1000:.1f} |")
        print(f"| errors | {len(errs)} |")
        print(f"| SSE events per client, each round | {events} |")
        print(f"\n(rounds quiet {' '.join(f'{x:.2f}' for x in quiet)}; loaded {' '.join(f'{x:.2f}' for x in loaded)})")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
