"""The PostgreSQL source (issue 17) over HTTP: the real `sqlkeep serve` binary backing up
a database of a real server (tests/support/pg_server.py) through its API, and sqlkeep.web
answering the same as it does.

`sqlkeep serve` is target/debug/sqlkeep (SQLKEEP_BIN names another binary), which
scripts/test-python builds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import sqlkeep
import sqlkeep.web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pg_server import PASSWORD, PgServer, pg_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SQLKEEP_BIN", ROOT / "target" / "debug" / "sqlkeep"))

# pgbench -i -s 1
PGBENCH_ROWS = {"pgbench_accounts": 100000, "pgbench_branches": 1, "pgbench_history": 0, "pgbench_tellers": 10}

# Manifest fields the Python `Backup` does not carry (see sqlkeep.web._manifest).
NOT_EXPOSED_TO_PYTHON = {"format", "requires", "copy_ms"}


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with pg_server() as server:
        server.create_db("shop")
        server.pgbench_init("shop", 1)
        yield server


@pytest.fixture(autouse=True)
def pg_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.delenv("PGPASSFILE", raising=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """A running `sqlkeep --config sqlkeep.json serve` and requests to it."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON body) of one request; `body` is sent as JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=300) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@contextmanager
def serve(folder: Path, config: dict[str, Any]) -> Iterator[Serve]:
    if not BIN.is_file():
        pytest.fail(f"{BIN} is missing: run `cargo build --bin sqlkeep` (scripts/test-python does)")
    port = free_port()
    (folder / "sqlkeep.json").write_text(json.dumps({**config, "server": {"listen": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen(
        [str(BIN), "--config", "sqlkeep.json", "serve"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        if not first.startswith(f"sqlkeep serving http://127.0.0.1:{port}"):
            proc.kill()
            pytest.fail(f"sqlkeep serve did not start: {first!r} {proc.stderr.read()}")
        # Drain both pipes so the server never blocks on a full one.
        for pipe in (proc.stdout, proc.stderr):
            threading.Thread(target=pipe.read, daemon=True).start()
        yield Serve(port)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def python_web(keeper: sqlkeep.Keeper) -> TestClient:
    app = FastAPI()
    app.include_router(sqlkeep.web.fastapi_router(keeper))
    return TestClient(app)


def test_serve_backs_up_lists_and_restores_a_postgres_database(pg: PgServer, tmp_path: Path) -> None:
    config = {
        "database": pg.uri("shop"),
        "backup_dir": str(tmp_path / "backups"),
        "schedule": "off",
        "test_restore_every_days": 0,
    }
    with serve(tmp_path, config) as api:
        status, accepted = api.call("POST", "/api/backups", {"label": "over http"})
        assert status == 202, accepted
        deadline = time.monotonic() + 180
        while True:
            status, page = api.call("GET", "/api/backups")
            assert status == 200, page
            if page["total"]:
                break
            assert time.monotonic() < deadline, "the backup did not appear within 180 s"
            time.sleep(0.2)

        (m,) = page["backups"]
        assert m["label"] == "over http" and m["kind"] == "manual"
        assert m["database"] == pg.uri("shop") and m["requires"] == ["postgres"]
        assert m["file"] == f"{m['id']}.pgdump.gz"
        assert m["postgres"]["database"] == "shop"
        assert m["postgres"]["server_version"] == pg.psql("postgres", "SHOW server_version")
        assert {t["table"]: t["rows"] for t in m["postgres"]["tables"]} == PGBENCH_ROWS
        assert {t["schema"] for t in m["postgres"]["tables"]} == {"public"}
        assert m["verification"]["ok"] and m["verification"]["level"] == "full"
        assert api.call("GET", f"/api/backups/{m['id']}") == (200, m)

        # `to` names a new database on the same server.
        status, restored = api.call("POST", f"/api/backups/{m['id']}/restore", {"confirm": True, "to": "restored_http"})
        assert status == 200, restored
        assert pg.row_counts("restored_http") == PGBENCH_ROWS
        pg.drop_db("restored_http")
        status, m = api.call("GET", f"/api/backups/{m['id']}")
        assert status == 200 and m["last_restored_at"], m

    # sqlkeep.web lists the same backup as the same manifest, facts included.
    with sqlkeep.Keeper(pg.uri("shop"), backup_dir=tmp_path / "backups", schedule="off") as keeper:
        r = python_web(keeper).get("/api/backups")
    assert r.status_code == 200
    (from_python,) = r.json()["backups"]
    assert from_python == {k: v for k, v in m.items() if k not in NOT_EXPOSED_TO_PYTHON}


def test_a_postgres_failure_is_502_from_serve_and_from_sqlkeep_web(tmp_path: Path) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:1/shop"
    config = {"database": unreachable, "backup_dir": str(tmp_path / "backups"), "schedule": "off"}
    with serve(tmp_path, config) as api:
        status, served = api.call("POST", "/api/backups?wait=true", {})
    assert status == 502, served
    assert served["error"]["kind"] == "postgres"
    assert "127.0.0.1:1/shop" in served["error"]["message"] and "refused" in served["error"]["message"]

    with sqlkeep.Keeper(unreachable, backup_dir=tmp_path / "backups", schedule="off") as keeper:
        r = python_web(keeper).post("/api/backups?wait=true", json={})
    assert r.status_code == 502
    assert r.json() == served
