"""sqlkeep.web: the routes of `sqlkeep serve` as a FastAPI router and a Flask blueprint,
each behaviour written once and run through both frameworks' test clients, over a real
keeper on a real SQLite database."""

from __future__ import annotations

import gzip
import hashlib
import json
import queue
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import flask
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import sqlkeep
import sqlkeep.web
from conftest import make_big_db, read_items

FRAMEWORKS = ["fastapi", "flask"]


class SpyKeeper:
    """The keeper, with the event subscriptions the routers hold on record."""

    def __init__(self, keeper: sqlkeep.Keeper) -> None:
        self._keeper = keeper
        self.subscriptions: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._keeper, name)

    def on_event(self, callback: Callable[[dict[str, Any]], object]) -> int:
        sub = self._keeper.on_event(callback)
        self.subscriptions.add(sub)
        return sub

    def off_event(self, sub: int) -> bool:
        self.subscriptions.discard(sub)
        return self._keeper.off_event(sub)


class Web:
    """One app serving `keeper` through one framework, and requests to it."""

    def __init__(self, framework: str, keeper: sqlkeep.Keeper, prefix: str = "") -> None:
        self.framework = framework
        self.keeper = keeper
        self.spy = SpyKeeper(keeper)
        self.prefix = prefix
        spy: Any = self.spy
        if framework == "fastapi":
            app = FastAPI()
            app.include_router(sqlkeep.web.fastapi_router(spy, prefix=prefix))
            self.fastapi = TestClient(app)
        else:
            flask_app = flask.Flask(__name__)
            flask_app.testing = True
            flask_app.register_blueprint(sqlkeep.web.flask_blueprint(spy), url_prefix=prefix or None)
            self.flask = flask_app.test_client()

    def raw(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, str, bytes]:
        """(status, Content-Type, body) of one request."""
        url = self.prefix + path
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.framework == "fastapi":
            r = self.fastapi.request(method, url, content=body, headers=headers)
            return r.status_code, r.headers.get("content-type", ""), r.content
        fr = self.flask.open(url, method=method, data=body, headers=headers)
        return fr.status_code, fr.headers.get("Content-Type", ""), fr.get_data()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, JSON) of one request; `body` is sent as JSON (a str as it is)."""
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
        status, content_type, content = self.raw(method, path, data)
        assert content_type.startswith("application/json"), (status, content_type, content[:200])
        return status, json.loads(content)

    @contextmanager
    def events(self) -> Iterator[Iterable[bytes]]:
        """The open event stream's chunks; closed (the client gone) on exit."""
        url = self.prefix + "/api/events"
        if self.framework == "fastapi":
            with self.fastapi.stream("GET", url) as r:
                assert r.status_code == 200
                assert r.headers["content-type"].startswith("text/event-stream")
                yield r.iter_raw()
        else:
            fr = self.flask.get(url, buffered=False)
            try:
                assert fr.status_code == 200
                assert fr.headers["Content-Type"].startswith("text/event-stream")
                yield fr.response  # type: ignore[misc]  # bytes: the feed's frames
            finally:
                fr.close()


@pytest.fixture
def keeper(db: Path) -> Iterator[sqlkeep.Keeper]:
    with sqlkeep.Keeper(db, schedule="off", test_restore_every_days=0) as k:
        yield k


@pytest.fixture(params=FRAMEWORKS)
def web(request: pytest.FixtureRequest, keeper: sqlkeep.Keeper) -> Web:
    return Web(request.param, keeper)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def backup(web: Web, label: str | None = None) -> dict[str, Any]:
    status, m = web.call("POST", "/api/backups?wait=true", {"label": label} if label else {})
    assert status == 201, m
    return m  # type: ignore[no-any-return]


class SseReader:
    """Reads an SSE stream on a thread, so that a silent stream fails the test after a
    timeout instead of hanging it. Frames are (event type, data); a comment (keep-alive)
    is ("", None)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._pipe: queue.Queue[bytes | BaseException | None] = queue.Queue()
        self._stop = threading.Event()
        self._buf = ""
        self.seen: list[tuple[str, Any]] = []
        self._thread = threading.Thread(target=self._pump, args=(chunks,), daemon=True)
        self._thread.start()

    def _pump(self, chunks: Iterable[bytes]) -> None:
        try:
            for chunk in chunks:
                self._pipe.put(chunk)
                if self._stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - reported by read_until
            self._pipe.put(e)
        self._pipe.put(None)

    def read_until(self, kind: str, timeout: float = 60.0) -> Any:
        """The data of the first frame of type `kind` ("" for a comment) from now on."""
        deadline = time.monotonic() + timeout
        while True:
            while "\n\n" in self._buf:
                frame, self._buf = self._buf.split("\n\n", 1)
                if frame.startswith(":"):
                    self.seen.append(("", None))
                else:
                    fields = dict(line.split(": ", 1) for line in frame.split("\n"))
                    self.seen.append((fields["event"], json.loads(fields["data"])))
                if self.seen[-1][0] == kind:
                    return self.seen[-1][1]
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind!r} frame within {timeout} s; got {self.types()}"
            try:
                chunk = self._pipe.get(timeout=left)
            except queue.Empty:
                continue
            assert isinstance(chunk, bytes), f"the stream ended ({chunk!r}); got {self.types()}"
            self._buf += chunk.decode()

    def types(self) -> list[str]:
        return [t for t, _ in self.seen]

    def stop(self) -> None:
        """Stops reading (at the next frame, a keep-alive at the latest), so that the
        stream can be closed from this thread."""
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()


# --- the routes ---------------------------------------------------------------------------


def test_status(web: Web) -> None:
    status, s = web.call("GET", "/api/status")
    assert status == 200, s
    assert s["running"] is False
    assert s["next_run"] is None  # schedule "off"
    assert s["health"]["verdict"] in ("ok", "warning", "failing")
    assert isinstance(s["health"]["reasons"], list)
    assert s["scheduler"]["running"] is False and s["scheduler"]["offsite"] == []
    assert {"last_success", "last_failure"} <= set(s)


def test_backup_with_wait_is_201_with_the_cores_manifest(web: Web) -> None:
    m = backup(web, "from the api")
    assert m["label"] == "from the api" and m["kind"] == "manual"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", m["created_at"])
    # The core's manifest of the backup, as it wrote it beside the file.
    b = web.keeper.get(m["id"])
    on_disk = json.loads((b.path.parent / f"{b.id}.json").read_text())
    not_exposed_to_python = {"format", "requires", "copy_ms"}
    assert set(m) == set(on_disk) - not_exposed_to_python
    assert m == {k: v for k, v in on_disk.items() if k not in not_exposed_to_python}


def test_backup_without_wait_is_202_then_the_backup_appears(web: Web) -> None:
    status, accepted = web.call("POST", "/api/backups", {"label": "later"})
    assert status == 202, accepted
    assert re.fullmatch(r"run-[0-9a-f]{16}", accepted["run_id"])
    assert (accepted["events"], accepted["history"]) == ("/api/events", "/api/history")

    def appeared() -> bool:
        page = web.call("GET", "/api/backups")[1]
        return bool(page["total"] == 1 and page["backups"][0]["label"] == "later")

    wait_until(appeared, "the accepted backup")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_one_backup_started_through_the_api_at_a_time(framework: str, tmp_path: Path) -> None:
    db = make_big_db(tmp_path / "big.db", 20)
    with sqlkeep.Keeper(db, schedule="off", test_restore_every_days=0) as k:
        web = Web(framework, k)
        assert web.call("POST", "/api/backups", {})[0] == 202
        status, e = web.call("POST", "/api/backups?wait=true", {})
        assert status == 409, e
        assert e["error"]["kind"] == "busy"
        # Once it finished, the next one is accepted.
        results: list[int] = []

        def accepted() -> bool:
            results.append(web.call("POST", "/api/backups?wait=true", {})[0])
            return results[-1] != 409

        wait_until(accepted, "the first backup to finish")
        assert results[-1] == 201
        assert len(k.list()) == 2


def test_list_is_paged_newest_first(web: Web) -> None:
    first = backup(web)["id"]
    backup(web)
    backup(web)
    status, page = web.call("GET", "/api/backups?limit=2&offset=1")
    assert status == 200, page
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert len(page["backups"]) == 2
    assert page["backups"][1]["id"] == first, "newest first"
    status, page = web.call("GET", "/api/backups")
    assert (page["limit"], page["offset"], len(page["backups"])) == (50, 0, 3)
    assert web.call("GET", "/api/backups?limit=5000")[1]["limit"] == 1000
    for bad in ("limit=-1", "limit=x", "offset=1.5", "wait=true", "limit=1&limit=2"):
        status, e = web.call("GET", f"/api/backups?{bad}")
        assert (status, e["error"]["kind"]) == (400, "invalid_argument"), bad


def test_get_one_backup_and_404(web: Web) -> None:
    m = backup(web)
    status, got = web.call("GET", f"/api/backups/{m['id']}")
    assert (status, got) == (200, m)
    status, e = web.call("GET", "/api/backups/app-20200101T000000Z-manual")
    assert status == 404, e
    assert e["error"]["kind"] == "not_found"
    assert e["error"]["message"]


def test_verify(web: Web) -> None:
    m = backup(web)
    url = f"/api/backups/{m['id']}/verify"
    status, v = web.call("POST", url, {"level": "full"})
    assert status == 200, v
    assert (v["ok"], v["level"]) == (True, "full")
    assert set(v) == {"ok", "level", "at", "detail"}
    assert web.call("POST", url, {"level": "quick"})[1]["level"] == "quick"
    assert web.call("POST", url)[1]["level"] == "full", "no body: full"
    status, e = web.call("POST", url, {"level": "deep"})
    assert (status, e["error"]["kind"], e["error"]["key"]) == (400, "config", "level")
    status, e = web.call("POST", url, {"level": 3})
    assert (status, e["error"]["kind"]) == (400, "invalid_argument")
    assert web.call("POST", "/api/backups/app-20200101T000000Z-manual/verify", {})[0] == 404


def test_verify_finding_damage_is_422(web: Web) -> None:
    m = backup(web)
    path = web.keeper.get(m["id"]).path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    status, v = web.call("POST", f"/api/backups/{m['id']}/verify", {"level": "quick"})
    assert status == 422, v
    assert v["ok"] is False and v["detail"]


def test_restore_needs_confirm_then_writes_to(web: Web, db: Path, tmp_path: Path) -> None:
    m = backup(web)
    url = f"/api/backups/{m['id']}/restore"
    target = tmp_path / "restored.db"
    for body in ({"to": str(target)}, {"confirm": False, "to": str(target)}):
        status, e = web.call("POST", url, body)
        assert (status, e["error"]["key"]) == (400, "confirm"), e
    assert not target.exists()
    status, e = web.call("POST", url, {"confirm": "yes", "to": str(target)})
    assert status == 400 and "key" not in e["error"]
    status, r = web.call("POST", url, {"confirm": True, "to": str(target)})
    assert status == 200, r
    assert r is None, "no safety backup when writing elsewhere"
    with sqlite3.connect(target) as restored, sqlite3.connect(db) as live:
        assert read_items(restored) == read_items(live)
        assert len(read_items(restored)) == 200
    # A second restore to the same path does not overwrite it.
    status, e = web.call("POST", url, {"confirm": True, "to": str(target)})
    assert status == 400, e


def test_restore_into_the_live_database_returns_the_safety_backup(web: Web, db: Path) -> None:
    m = backup(web)
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM items")
    status, safety = web.call("POST", f"/api/backups/{m['id']}/restore", {"confirm": True})
    assert status == 200, safety
    assert safety["kind"] == "pre-restore"
    with sqlite3.connect(db) as con:
        assert len(read_items(con)) == 200


def test_config_read_and_patch(web: Web) -> None:
    status, c = web.call("GET", "/api/config")
    assert status == 200 and c == web.keeper.config
    status, c = web.call("PATCH", "/api/config", {"schedule": "03:30", "retention": {"daily": 3}})
    assert status == 200, c
    assert (c["schedule"], c["retention"]["daily"]) == ("03:30", 3)
    assert web.keeper.config["schedule"] == "03:30"
    before = web.keeper.config
    for body, key in (
        ({"schedule": "25:00", "catch_up": False}, "schedule"),  # a bad value
        ({"catch_up": "yes", "schedule": "04:00"}, "catch_up"),  # a bad type
        ({"retention": {"daily": -1}}, "retention.daily"),
        ({"shedule": "04:00"}, "shedule"),  # an unknown key
    ):
        status, e = web.call("PATCH", "/api/config", body)
        assert (status, e["error"]["kind"], e["error"]["key"]) == (400, "config", key), e
        assert not e["error"]["message"].startswith("configuration key"), "the message alone"
        assert web.keeper.config == before, f"{body} changed nothing"
    for bad in ("{not json", "[1, 2]", '{"schedule": NaN}'):
        status, e = web.call("PATCH", "/api/config", bad)
        assert status == 400, (bad, e)
    assert web.keeper.config == before


def test_scheduler_start_and_stop(web: Web) -> None:
    status, r = web.call("POST", "/api/scheduler/start")
    assert (status, r) == (200, {"running": True})
    assert web.keeper.running
    assert web.call("GET", "/api/status")[1]["running"] is True
    assert web.call("POST", "/api/scheduler/stop") == (200, {"running": False})
    assert not web.keeper.running


def test_delete(web: Web) -> None:
    m = backup(web)
    path = web.keeper.get(m["id"]).path
    status, d = web.call("DELETE", f"/api/backups/{m['id']}")
    assert (status, d["id"]) == (200, m["id"])
    assert not path.exists()
    assert web.call("DELETE", f"/api/backups/{m['id']}")[0] == 404
    assert web.call("DELETE", f"/api/backups/{m['id']}?remote_copies=maybe")[0] == 400


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_rotation_preview_and_apply(framework: str, db: Path) -> None:
    policy = {"keep_last": 1, "daily": 0, "weekly": 0, "monthly": 0, "yearly": 0, "auto": False}
    with sqlkeep.Keeper(db, schedule="off", backup_on_shutdown=True, retention=policy) as k:
        web = Web(framework, k)
        for _ in range(3):  # a shutdown backup each time the scheduler stops
            web.call("POST", "/api/scheduler/start")
            web.call("POST", "/api/scheduler/stop")
        automatic = [b.id for b in k.list()]
        assert len(automatic) == 3
        status, plan = web.call("GET", "/api/rotation")
        assert status == 200, plan
        assert plan["dry_run"] is True
        assert (plan["kept"], plan["deleted"]) == (automatic[:1], automatic[1:])
        assert [e["action"] for e in plan["entries"]] == ["keep", "delete", "delete"]
        assert plan["entries"][0]["created_at"].endswith("Z")
        assert len(k.list()) == 3, "a preview deletes nothing"
        status, done = web.call("POST", "/api/rotation")
        assert status == 200, done
        assert done["dry_run"] is False and done["deleted"] == automatic[1:]
        assert isinstance(done["freed_bytes"], int) and done["freed_bytes"] > 0
        assert [b.id for b in k.list()] == automatic[:1]


def test_history_and_stats(web: Web) -> None:
    a = backup(web, "a")
    b = backup(web, "b")
    status, runs = web.call("GET", "/api/history?limit=1")
    assert status == 200, runs
    assert [r["id"] for r in runs] == [b["id"]]
    assert runs[0]["status"] == "verified" and runs[0]["time"].endswith("Z")
    assert [r["id"] for r in web.call("GET", "/api/history?offset=1")[1]] == [a["id"]]
    assert web.call("GET", "/api/history?limit=x")[0] == 400
    status, st = web.call("GET", "/api/stats")
    assert status == 200, st
    assert (st["count"], st["runs"], st["failures"]) == (2, 2, 0)
    assert st["newest"] == b["created_at"] and st["oldest"] == a["created_at"]
    assert st["offsite"] == []


def change(db: Path, n: int) -> None:
    """Changes a few rows: a few pages."""
    with sqlite3.connect(db) as con:
        con.execute("UPDATE items SET qty = qty + ? WHERE id % 50 = 0", (n,))


def incremental_pair(web: Web, db: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """`incremental` switched on through the API, then a full and an incremental backup."""
    status, c = web.call("PATCH", "/api/config", {"incremental": True})
    assert (status, c["incremental"]) == (200, True), c
    first = backup(web)
    change(db, 1)
    return first, backup(web)


def test_incremental_backups_and_a_full_one_on_request(web: Web, db: Path) -> None:
    status, e = web.call("PATCH", "/api/config", {"incremental": "yes"})
    assert (status, e["error"]["kind"], e["error"]["key"]) == (400, "config", "incremental"), e
    assert web.keeper.config["incremental"] is False
    first, inc = incremental_pair(web, db)
    assert "incremental" not in first, "the first backup is a full one"
    assert inc["file"].endswith(".pages.zst")
    assert inc["incremental"]["parent"] == first["id"]
    assert [link["id"] for link in inc["incremental"]["chain"]] == [first["id"], inc["id"]]
    assert inc["raw_size_bytes"] == db.stat().st_size
    # The core's manifest, as it wrote it beside the page file.
    b = web.keeper.get(inc["id"])
    on_disk = json.loads((b.path.parent / f"{b.id}.json").read_text())
    assert on_disk["requires"] == ["incremental"]
    not_exposed_to_python = {"format", "requires", "copy_ms"}
    assert inc == {k: v for k, v in on_disk.items() if k not in not_exposed_to_python}
    assert web.call("GET", "/api/backups")[1]["backups"][0] == inc
    assert web.call("GET", f"/api/backups/{inc['id']}")[1] == inc

    # A full backup on request (with ?wait=true and without), though incremental is on.
    full = web.call("POST", "/api/backups?wait=true", {"full": True, "label": "weekly"})[1]
    assert "incremental" not in full and full["label"] == "weekly", full
    status, accepted = web.call("POST", "/api/backups", {"full": True, "label": "later"})
    assert status == 202, accepted
    wait_until(lambda: web.call("GET", "/api/backups")[1]["total"] == 4, "the accepted backup")
    later = web.call("GET", "/api/backups")[1]["backups"][0]
    assert later["label"] == "later" and "incremental" not in later, later
    for bad in ({"full": "yes"}, {"full": 1}):
        status, e = web.call("POST", "/api/backups?wait=true", bad)
        assert (status, e["error"]["kind"]) == (400, "invalid_argument"), (bad, e)
    assert len(web.keeper.list()) == 4, "nothing was backed up"

    status, st = web.call("GET", "/api/stats")
    assert status == 200, st
    assert (st["count"], st["incremental"]) == (4, 1)
    assert st["raw_bytes"] == sum(m["raw_size_bytes"] for m in (first, inc, full, later))
    assert st["bytes_on_disk"] >= st["total_bytes"]


def test_export_writes_one_self_contained_file_never_over_another(
    web: Web, db: Path, tmp_path: Path
) -> None:
    first, inc = incremental_pair(web, db)
    with sqlite3.connect(db) as con:
        moment = read_items(con)
    change(db, 2)
    url = f"/api/backups/{inc['id']}/export"
    to = tmp_path / "exported.sqlite3.gz"
    status, o = web.call("POST", url, {"to": str(to)})
    assert status == 200, o
    data = to.read_bytes()
    assert o == {
        "id": inc["id"],
        "path": str(to),
        "compression": "gzip",
        "size_bytes": len(data),
        "raw_size_bytes": inc["raw_size_bytes"],
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    plain = tmp_path / "exported.db"
    plain.write_bytes(gzip.decompress(data))
    with sqlite3.connect(plain) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert read_items(con) == moment

    # Never over an existing file; a name that says no compression; no `to`: 400s.
    status, e = web.call("POST", url, {"to": str(to)})
    assert (status, e["error"]["kind"]) == (400, "invalid_argument"), e
    assert e["error"]["hint"] and "exists" in e["error"]["message"], e
    assert to.read_bytes() == data, "the first export is untouched"
    odd = tmp_path / "exported.sqlite3"
    assert web.call("POST", url, {"to": str(odd)})[0] == 400
    assert not odd.exists()
    status, e = web.call("POST", url, {})
    assert (status, e["error"]["kind"], e["error"]["key"]) == (400, "config", "to"), e
    for bad in ({"to": 5}, {"to": "a.gz", "force": True}, "[1]"):
        status, e = web.call("POST", url, bad)
        assert (status, e["error"]["kind"]) == (400, "invalid_argument"), (bad, e)
    # An unknown backup, a folder that does not exist: 404s, nothing written.
    zst = tmp_path / "other.sqlite3.zst"
    status, e = web.call(
        "POST", "/api/backups/app-20200101T000000Z-manual/export", {"to": str(zst)}
    )
    assert (status, e["error"]["kind"]) == (404, "not_found"), e
    nowhere = tmp_path / "no-such-folder" / "x.gz"
    assert web.call("POST", url, {"to": str(nowhere)})[0] == 404
    assert not zst.exists() and not nowhere.exists()
    # zstd by the name: the full backup this time.
    status, o = web.call("POST", f"/api/backups/{first['id']}/export", {"to": str(zst)})
    assert (status, o["compression"], o["size_bytes"]) == (200, "zstd", zst.stat().st_size), o


def test_cancel_with_nothing_running(web: Web) -> None:
    assert web.call("POST", "/api/cancel") == (200, {"cancelled": False})


def test_metrics(web: Web) -> None:
    backup(web)
    status, content_type, body = web.raw("GET", "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    text = body.decode()
    for line in (
        "sqlkeep_backups 1",
        "sqlkeep_runs_total 1",
        "sqlkeep_failures_total 0",
        "sqlkeep_scheduler_up 0",
        "sqlkeep_last_failure_timestamp_seconds 0",
        "# TYPE sqlkeep_backups_bytes gauge",
        "# HELP sqlkeep_health The health verdict: 0 ok, 1 warning, 2 failing.",
    ):
        assert f"\n{line}\n" in f"\n{text}", (line, text)
    success = re.search(r"^sqlkeep_last_success_timestamp_seconds (\S+)$", text, re.M)
    assert success and abs(float(success.group(1)) - time.time()) < 600, text
    assert len(re.findall(r"^# TYPE \S+ gauge$", text, re.M)) == 9


def test_bodies_over_64_kib_and_unknown_keys_are_refused(web: Web) -> None:
    big = {"label": "x" * 100_000}
    status, e = web.call("POST", "/api/backups", big)
    assert status == 413, e
    status, e = web.call("PATCH", "/api/config", {"schedule": "03:00", "pad": "x" * 70_000})
    assert status == 413, e
    for body in ({"lable": "typo"}, [1], "{not json", '"label"'):
        status, e = web.call("POST", "/api/backups?wait=true", body)
        assert (status, e["error"]["kind"]) == (400, "invalid_argument"), (body, e)
    status, e = web.call("POST", "/api/backups?wait=true", {"label": 7})
    assert status == 400, e
    assert web.keeper.list() == [], "nothing was backed up"
    assert web.keeper.config["schedule"] == "off"


def test_the_dashboard_is_the_cores_page(web: Web) -> None:
    status, content_type, body = web.raw("GET", "/")
    assert status == 200
    assert content_type.startswith("text/html")
    assert body.decode() == sqlkeep.DASHBOARD_HTML


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mounted_under_a_prefix(framework: str, keeper: sqlkeep.Keeper) -> None:
    web = Web(framework, keeper, prefix="/admin/backups")
    status, _, body = web.raw("GET", "/")
    assert status == 200
    page = body.decode()
    # The page calls the API where it is mounted; otherwise it is the core's page.
    assert re.findall(r"(?<!/admin/backups)/api/", page) == []
    assert '"/admin/backups/api/status"' in page
    assert page.replace('"/admin/backups/api/', '"/api/') == sqlkeep.DASHBOARD_HTML
    assert web.call("GET", "/api/status")[0] == 200
    status, accepted = web.call("POST", "/api/backups", {})
    assert status == 202, accepted
    assert accepted["events"] == "/admin/backups/api/events"
    wait_until(lambda: web.call("GET", "/api/backups")[1]["total"] == 1, "the backup")
    assert web.raw("GET", "/api/status".replace("/api", "/nothing"))[0] == 404


def test_events_stream_a_backup_and_end_with_the_client(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlkeep.web, "KEEPALIVE_SECONDS", 0.2)
    with web.events() as chunks:
        assert len(web.spy.subscriptions) == 1, "subscribed once the headers are sent"
        reader = SseReader(chunks)
        status, accepted = web.call("POST", "/api/backups", {"label": "live"})
        assert status == 202, accepted
        event = reader.read_until("backup_succeeded")
        assert "backup_started" in reader.types()
        reader.read_until("")  # an idle stream sends keep-alive comments
        reader.stop()
    assert event["type"] == "backup_succeeded"
    assert event["time"].endswith("Z") and "severity" not in event
    backups = web.keeper.list()
    assert [event["id"]] == [b.id for b in backups] and backups[0].label == "live"
    # The client went away: its subscription is gone.
    wait_until(lambda: not web.spy.subscriptions, "the unsubscription", timeout=30)


def test_the_host_apps_authentication_guards_every_route(keeper: sqlkeep.Keeper) -> None:
    """As the README shows: a FastAPI dependency, a Flask before_request."""
    from fastapi import Depends, Header, HTTPException

    def admin(authorization: str = Header("")) -> None:
        if authorization != "Bearer admin":
            raise HTTPException(401)

    fastapi_app = FastAPI()
    fastapi_app.include_router(sqlkeep.web.fastapi_router(keeper), dependencies=[Depends(admin)])
    fastapi_client = TestClient(fastapi_app)

    bp = sqlkeep.web.flask_blueprint(keeper)

    @bp.before_request
    def flask_admin() -> Any:
        if flask.request.headers.get("Authorization") != "Bearer admin":
            return flask.Response("", 401)
        return None

    flask_app = flask.Flask(__name__)
    flask_app.register_blueprint(bp)
    flask_client = flask_app.test_client()

    for method, path in [(r.method, r.path.replace("{id}", "x")) for r in sqlkeep.web._ROUTES]:
        assert fastapi_client.request(method, path).status_code == 401, path
        assert flask_client.open(path, method=method).status_code == 401, path
    assert keeper.list() == [] and not keeper.running
    ok = {"Authorization": "Bearer admin"}
    assert fastapi_client.get("/api/status", headers=ok).status_code == 200
    assert flask_client.get("/api/status", headers=ok).status_code == 200


# --- the parts no framework sees ----------------------------------------------------------


@pytest.mark.parametrize(
    "cls, kind, status",
    [
        (sqlkeep.ConfigError, "config", 400),
        (sqlkeep.ConfigError, "invalid_argument", 400),
        (sqlkeep.NotFoundError, "not_found", 404),
        (sqlkeep.BusyError, "busy", 409),
        (sqlkeep.CorruptBackupError, "corrupt", 422),
        (sqlkeep.RemoteError, "remote", 502),
        (sqlkeep.PostgresError, "postgres", 502),
        (sqlkeep.BackupError, "io", 500),
        (sqlkeep.EncryptionKeyError, "key", 500),
        (sqlkeep.CancelledError, "cancelled", 500),
    ],
)
def test_error_kinds_map_to_the_status_codes_of_sqlkeep_serve(
    cls: type[sqlkeep.Error], kind: str, status: int
) -> None:
    e = cls("configuration key `remotes[0].url`: cannot reach it (hint: check the network)")
    e.kind, e.key, e.hint = kind, "remotes[0].url", "check the network"
    reply = sqlkeep.web._error_of(e)
    assert reply.status == status
    assert json.loads(reply.body) == {
        "error": {
            "kind": kind,
            "message": "cannot reach it",
            "key": "remotes[0].url",
            "hint": "check the network",
        }
    }


def test_importing_needs_neither_framework() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['flask'] = None\n"
        "import sqlkeep.web\n"
        "print(sorted(sqlkeep.web.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert "fastapi_router" in out.stdout and "flask_blueprint" in out.stdout


def test_metric_numbers_are_printed_as_the_core_prints_them() -> None:
    assert [sqlkeep.web._metric_value(v) for v in (0.0, 3.0, 1712345678.123, 0.25)] == [
        "0",
        "3",
        "1712345678.123",
        "0.25",
    ]

