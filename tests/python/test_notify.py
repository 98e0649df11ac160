"""Notifications from Python: a real HTTP server (http.server) on 127.0.0.1 receives the
webhook; the Keeper's `with` block delivers what is pending before it ends."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import sqlkeep


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_backup_is_announced_and_the_with_block_waits_for_it(
    db: Path, hook: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = hook
    monkeypatch.setenv("SQLKEEP_PY_HOOK", "Bearer py-secret-93b1")
    channels = [
        {"webhook": url + "/hook", "on": ["success", "failure"], "headers_env": {"Authorization": "SQLKEEP_PY_HOOK"}}
    ]
    with sqlkeep.Keeper(db, notify=channels) as k:
        b = k.backup()
    assert [r["path"] for r in received] == ["/hook"]
    body = received[0]["body"]
    assert body["event"] == "success"
    assert body["backup"]["id"] == b.id
    assert body["health"] == "ok"
    assert received[0]["auth"] == "Bearer py-secret-93b1"
    assert k.config["notify"]["channels"][0]["headers_env"] == {"Authorization": "SQLKEEP_PY_HOOK"}

    results = k.notify_test()
    assert results == [{"kind": "webhook", "channel": "webhook " + url, "ok": True, "error": None}]
    assert received[-1]["body"]["event"] == "test"
    # The secret is nowhere sqlkeep writes.
    for f in (db.parent / "backups").iterdir():
        assert b"py-secret-93b1" not in f.read_bytes(), f


def test_bad_channels_are_config_errors_and_wrong_types_type_errors(db: Path) -> None:
    with pytest.raises(sqlkeep.ConfigError, match=r"notify\[0\]\.webhook"):
        sqlkeep.Keeper(db, notify=[{"webhook": "ftp://example.com/x"}])
    with pytest.raises(sqlkeep.ConfigError, match=r"notify\.channels\[0\]\.email\.to"):
        sqlkeep.Keeper(db, notify={"channels": [{"email": {"smtp": "smtp://h", "from": "a@b.c"}}]})
    with pytest.raises(TypeError, match="notify"):
        sqlkeep.Keeper(db, notify="https://example.com")  # type: ignore[arg-type]
    assert sqlkeep.Keeper(db).notify_test() == []
