"""The "Test notifications" button of sqlkeep.tk.BackupView, over a real Keeper whose
webhook goes to a real HTTP server (http.server) on 127.0.0.1, under Xvfb."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from typing import Any, Callable, Iterator

import pytest

import sqlkeep
from sqlkeep.tk import BackupView


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_button_sends_through_every_channel_and_says_how_each_went(
    make_view: Callable[[sqlkeep.Keeper], BackupView],
    keeper: sqlkeep.Keeper,
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    view = make_view(keeper)
    view.notify_test_button.invoke()
    view.wait_idle()
    assert view.notification == ("warning", "No notification channels are set up (the `notify` setting).")

    keeper.configure(notify=[{"webhook": url + "/hook"}])
    view.notify_test_button.invoke()
    view.wait_idle()
    assert view.notification == ("success", f"Test message sent through 1 channel: webhook {url}.")
    assert [m["event"] for m in received] == ["test"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    keeper.configure(notify=[{"webhook": url + "/hook"}, {"webhook": f"http://127.0.0.1:{dead}/token"}])
    view.notify_test_button.invoke()
    view.wait_idle()
    level, text = view.notification
    assert level == "error"
    assert text.startswith(f"Test message failed: webhook http://127.0.0.1:{dead}: ")
    assert "token" not in text
    assert len(received) == 2
