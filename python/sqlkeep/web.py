"""The routes of ``sqlkeep serve`` inside your own web application.

    from fastapi import Depends, FastAPI
    import sqlkeep, sqlkeep.web

    keeper = sqlkeep.Keeper("app.db", schedule="02:00")
    app = FastAPI()
    app.include_router(sqlkeep.web.fastapi_router(keeper, prefix="/admin/backups"),
                       dependencies=[Depends(require_admin)])   # your authentication

    from flask import Flask
    app = Flask(__name__)
    bp = sqlkeep.web.flask_blueprint(keeper)
    bp.before_request(require_admin)                           # your authentication
    app.register_blueprint(bp, url_prefix="/admin/backups")

Both serve what ``sqlkeep serve`` serves, with the same paths, methods, status codes and
JSON: the API under ``api/``, Server-Sent Events at ``api/events``, Prometheus text at
``metrics`` and the dashboard page (the core's ``sqlkeep.DASHBOARD_HTML``) at the mount
point itself. They do no authentication of their own: protect them as the rest of the
application is protected (a FastAPI dependency, a Flask ``before_request``); anyone who
can reach them can restore and delete backups.

FastAPI and Flask are imported only by the function that needs them (the extras
``sqlkeep[fastapi]`` and ``sqlkeep[flask]``). The translation of requests to ``Keeper``
calls, of results to JSON and of errors to status codes is written once, below, and
shared by both.
"""

import asyncio
import datetime
import json
import os
import queue
import secrets
import threading
import urllib.parse
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
)

import sqlkeep

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    import fastapi
    import flask

__all__ = ["BODY_LIMIT", "KEEPALIVE_SECONDS", "fastapi_router", "flask_blueprint"]

#: Request bodies larger than this are refused with 413, as by ``sqlkeep serve``.
BODY_LIMIT = 64 * 1024

#: Seconds between the comment lines an idle event stream sends (as ``sqlkeep serve``
#: does), so proxies keep it open and a closed connection is noticed.
KEEPALIVE_SECONDS = 15.0

_JSON = "application/json"
_HTML = "text/html; charset=utf-8"
_METRICS = "text/plain; version=0.0.4"
_EVENTS = "text/event-stream"

# Core error kinds and their status codes; any other kind is a 500.
_STATUS = {
    "config": 400,
    "invalid_argument": 400,
    "not_found": 404,
    "busy": 409,
    "corrupt": 422,
    "remote": 502,
    "postgres": 502,
}


class _Reply(NamedTuple):
    """A response, whatever the framework: status code, body, Content-Type."""

    status: int
    body: bytes
    content_type: str


class _Route(NamedTuple):
    method: str
    path: str  # with {id} for the backup id
    name: str  # the _Api method; the endpoint name
    body: bool  # reads a JSON body (limited to BODY_LIMIT)


# The routes of `sqlkeep serve` (src/cli/serve.rs), relative to the mount point.
_ROUTES: Tuple[_Route, ...] = (
    _Route("GET", "/", "dashboard", False),
    _Route("GET", "/api/status", "status", False),
    _Route("GET", "/api/config", "get_config", False),
    _Route("PATCH", "/api/config", "patch_config", True),
    _Route("POST", "/api/scheduler/start", "scheduler_start", False),
    _Route("POST", "/api/scheduler/stop", "scheduler_stop", False),
    _Route("GET", "/api/backups", "list_backups", False),
    _Route("POST", "/api/backups", "create_backup", True),
    _Route("GET", "/api/backups/{id}", "get_backup", False),
    _Route("DELETE", "/api/backups/{id}", "delete_backup", False),
    _Route("POST", "/api/backups/{id}/verify", "verify_backup", True),
    _Route("POST", "/api/backups/{id}/restore", "restore_backup", True),
    _Route("POST", "/api/backups/{id}/export", "export_backup", True),
    _Route("POST", "/api/cancel", "cancel", False),
    _Route("GET", "/api/rotation", "rotation_preview", False),
    _Route("POST", "/api/rotation", "rotation_apply", False),
    _Route("GET", "/api/history", "history", False),
    _Route("GET", "/api/stats", "stats", False),
    _Route("GET", "/api/events", "events", False),
    _Route("GET", "/metrics", "metrics", False),
)


# --- JSON -------------------------------------------------------------------------------


def _time(t: Optional[datetime.datetime]) -> Optional[str]:
    """An instant as the core writes it: RFC 3339, UTC, milliseconds, ``Z``."""
    if t is None:
        return None
    utc = t.astimezone(datetime.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _verification(v: "sqlkeep.Verification") -> Dict[str, Any]:
    return {"level": v.level, "ok": v.ok, "at": _time(v.at), "detail": v.detail}


def _manifest(b: "sqlkeep.Backup") -> Dict[str, Any]:
    """A backup as the core's manifest JSON, from what `Backup` exposes (the manifest's
    `format`, `requires` and `copy_ms` are not exposed, and of `encryption` only that
    it is an age file). `database` is a path, or a PostgreSQL backup's URI; an
    incremental backup's `incremental` is the manifest's object as the core wrote it."""
    m: Dict[str, Any] = {
        "id": b.id,
        "kind": b.kind,
        "label": b.label,
        "created_at": _time(b.created_at),
        "database": os.fspath(b.database),
        "file": b.path.name,
        "compression": b.compression,
        "compression_level": b.compression_level,
        "size_bytes": b.size_bytes,
        "sha256": b.sha256,
        "raw_size_bytes": b.raw_size_bytes,
    }
    if b.raw_sha256 is not None:
        m["raw_sha256"] = b.raw_sha256
    m.update(
        page_size=b.page_size,
        page_count=b.page_count,
        user_version=b.user_version,
        journal_mode=b.journal_mode,
        sqlite_version=b.sqlite_version,
    )
    if b.incremental is not None:
        m["incremental"] = b.incremental
    if b.postgres is not None:
        m["postgres"] = b.postgres
    m.update(
        sqlkeep_version=b.sqlkeep_version,
        duration_ms=b.duration_ms,
        verification=None if b.verification is None else _verification(b.verification),
    )
    if b.encrypted:
        m["encryption"] = {"format": "age"}
    if b.last_restored_at is not None:
        m["last_restored_at"] = _time(b.last_restored_at)
    return m


def _plain(v: Any) -> Any:
    """A result of the Python API as the JSON the core serialises: instants as the core
    writes them, `Backup`s as manifests, the other records as their fields."""
    if isinstance(v, datetime.datetime):
        return _time(v)
    if isinstance(v, sqlkeep.Backup):
        return _manifest(v)
    if isinstance(v, sqlkeep.Verification):
        return _verification(v)
    if isinstance(v, sqlkeep.RotationPlan):
        return {
            "dry_run": v.dry_run,
            "entries": _plain(v.entries),
            "kept": list(v.kept),
            "deleted": list(v.deleted),
            "freed_bytes": v.freed_bytes,
            "total_bytes": v.total_bytes,
            "max_total_bytes": v.max_total_bytes,
            "warning": v.warning,
        }
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


def _with_core_offsite(d: Dict[str, Any]) -> Dict[str, Any]:
    """`status()` / `stats()` with `offsite` as the core has it (without the `summary`
    line the Python API adds)."""
    out = _plain(d)
    for o in out.get("offsite") or []:
        o.pop("summary", None)
    return out  # type: ignore[no-any-return]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json_reply(status: int, value: Any) -> _Reply:
    return _Reply(status, _dumps(value), _JSON)


def _error(
    status: int, kind: str, message: str, key: Optional[str] = None, hint: Optional[str] = None
) -> _Reply:
    err: Dict[str, Any] = {"kind": kind, "message": message}
    if key is not None:
        err["key"] = key
    if hint is not None:
        err["hint"] = hint
    return _json_reply(status, {"error": err})


def _error_of(e: "sqlkeep.Error") -> _Reply:
    """A core error as `sqlkeep serve` answers it."""
    kind = e.kind or "internal"
    # str(e) is the core's whole sentence; the API gives its parts.
    message = str(e)
    if e.key is not None and message.startswith(f"configuration key `{e.key}`: "):
        message = message[len(f"configuration key `{e.key}`: ") :]
    if e.hint is not None and message.endswith(f" (hint: {e.hint})"):
        message = message[: -len(f" (hint: {e.hint})")]
    return _error(_STATUS.get(kind, 500), kind, message, e.key, e.hint)


class _Reject(Exception):
    """Ends a request with `reply` (a 4xx)."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _bad_request(message: str, key: Optional[str] = None) -> _Reject:
    """400: kind `config` naming `key`, or `invalid_argument` (as serve.rs's bad_request)."""
    return _Reject(_error(400, "config" if key is not None else "invalid_argument", message, key))


def _too_large() -> _Reply:
    return _error(
        413, "invalid_argument", f"request body is larger than {BODY_LIMIT // 1024} KiB"
    )


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean `{'true' if v else 'false'}`"
    if isinstance(v, (int, float)):
        return f"number `{v}`"
    if isinstance(v, str):
        return f"string {json.dumps(v)}"
    return "array" if isinstance(v, list) else "map"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(body: bytes) -> Any:
    """The JSON of a request body (an empty body is ``{}``), or a 400."""
    if not body.strip():
        return {}
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad_request(f"bad request body: {e}") from None


_BodySpec = Mapping[str, Tuple[Type[Any], str]]


def _fields(body: bytes, spec: _BodySpec) -> Dict[str, Any]:
    """A JSON object body with only the keys of `spec` (each null or of its type), or a
    400 that says what is wrong and changes nothing."""
    value = _parse_json(body)
    if not isinstance(value, dict):
        raise _bad_request(f"bad request body: invalid type: {_type_name(value)}, expected a JSON object")
    expected = ", ".join(f"`{k}`" for k in spec)
    for k in value:
        if k not in spec:
            raise _bad_request(f"bad request body: unknown field `{k}`, expected {expected}")
    for k, (type_, what) in spec.items():
        v = value.get(k)
        if v is not None and not (isinstance(v, type_) and not (type_ is int and isinstance(v, bool))):
            raise _bad_request(
                f"bad request body: invalid type: {_type_name(v)}, expected {what} for `{k}`"
            )
    return value


def _query(query: Sequence[Tuple[str, str]], spec: Mapping[str, str]) -> Dict[str, Any]:
    """Query parameters: only the names of `spec`, each once, `"count"` a whole number
    (0 or more) and `"bool"` ``true`` or ``false``; or a 400."""
    out: Dict[str, Any] = {}
    for name, raw in query:
        kind = spec.get(name)
        if kind is None:
            expected = " or ".join(f"`{k}`" for k in spec) or "none"
            raise _bad_request(f"bad query string: unknown field `{name}`, expected {expected}")
        if name in out:
            raise _bad_request(f"bad query string: duplicate field `{name}`")
        if kind == "count":
            if not (raw.isascii() and raw.isdigit()) or int(raw) >= 1 << 64:
                raise _bad_request(f"bad query string: {name}={raw!r} is not a count (0 or more)")
            out[name] = int(raw)
        elif raw in ("true", "false"):
            out[name] = raw == "true"
        else:
            raise _bad_request(f"bad query string: {name}={raw!r} is not true or false")
    return out


def _page(query: Sequence[Tuple[str, str]]) -> Tuple[int, int]:
    p = _query(query, {"limit": "count", "offset": "count"})
    return min(p.get("limit", 50), 1000), p.get("offset", 0)


def _metric_value(v: float) -> str:
    """A number as Rust prints an f64 (``0``, ``3``, ``1712345678.123``)."""
    return str(int(v)) if v == int(v) else repr(v)


def _timestamp(t: Optional[datetime.datetime]) -> float:
    if t is None:
        return 0.0
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return ((t - epoch) // datetime.timedelta(milliseconds=1)) / 1000


def _sse_frame(event: Mapping[str, Any]) -> str:
    """One event as `sqlkeep serve` streams it: ``event: <type>`` and ``data: <the core's
    JSON of the event>`` (without the `severity` the Python API adds)."""
    data = {k: _plain(v) for k, v in event.items() if k != "severity"}
    return f"event: {data.get('type') or 'event'}\ndata: {_dumps(data).decode()}\n\n"


_KEEPALIVE_FRAME = ":\n\n"


class _Request(NamedTuple):
    params: Mapping[str, str]  # path parameters: {"id": ...}
    query: Sequence[Tuple[str, str]]  # the query string's pairs, decoded
    body: bytes  # at most BODY_LIMIT bytes
    path: str  # the path the client asked for (mount point included)


# --- the routes, framework-neutral --------------------------------------------------------


class _Api:
    """Every route of `sqlkeep serve` but the event stream, as plain functions of a
    request giving a `_Reply`; the framework adapters only move bytes."""

    def __init__(self, keeper: "sqlkeep.Keeper") -> None:
        self.keeper = keeper
        # Held while a backup started through these routes runs: one at a time.
        self._busy = threading.Lock()

    def call(self, name: str, request: _Request) -> _Reply:
        handler: Callable[[_Request], _Reply] = getattr(self, name)
        try:
            return handler(request)
        except _Reject as r:
            return r.reply
        except sqlkeep.Error as e:
            return _error_of(e)

    @staticmethod
    def _ok(value: Any) -> _Reply:
        return _json_reply(200, _plain(value))

    def dashboard(self, r: _Request) -> _Reply:
        # The page calls the API at "/api/..."; mounted elsewhere, it calls it there.
        base = urllib.parse.quote(r.path[:-1] if r.path.endswith("/") else r.path, safe="/")
        page = sqlkeep.DASHBOARD_HTML
        if base:
            page = page.replace('"/api/', f'"{base}/api/')
        return _Reply(200, page.encode(), _HTML)

    def status(self, r: _Request) -> _Reply:
        status, health, stats = self.keeper.status(), self.keeper.health(), self.keeper.stats()
        return self._ok(
            {
                "running": status["running"],
                "next_run": _time(status["next_run"]),
                "last_success": _time(health["last_success"]),
                "last_failure": _time(stats["last_failure"]),
                "health": health,
                "scheduler": _with_core_offsite(status),
            }
        )

    def get_config(self, r: _Request) -> _Reply:
        return self._ok(self.keeper.config)

    def patch_config(self, r: _Request) -> _Reply:
        change = _parse_json(r.body)
        if not isinstance(change, dict):
            raise _bad_request(
                f"bad request body: invalid type: {_type_name(change)}, expected a JSON object"
            )
        try:
            return self._ok(self.keeper.configure(**change))
        except TypeError as e:
            # A value of the wrong JSON type: "<key> must be ..., not ..." (checked before
            # anything changes).
            message = str(e)
            key = next((k for k in change if message.startswith(f"{k} must be ")), None)
            raise _bad_request(message, key) from None

    def scheduler_start(self, r: _Request) -> _Reply:
        self.keeper.start()
        return self._ok({"running": self.keeper.running})

    def scheduler_stop(self, r: _Request) -> _Reply:
        self.keeper.stop()
        return self._ok({"running": self.keeper.running})

    def list_backups(self, r: _Request) -> _Reply:
        limit, offset = _page(r.query)
        backups = self.keeper.list()
        page = backups[offset : offset + limit]
        return self._ok({"backups": page, "total": len(backups), "limit": limit, "offset": offset})

    def create_backup(self, r: _Request) -> _Reply:
        wait = _query(r.query, {"wait": "bool"}).get("wait", False)
        b = _fields(r.body, {"label": (str, "a string"), "full": (bool, "a boolean")})
        label, full = b.get("label"), b.get("full") is True
        if not self._busy.acquire(blocking=False):
            return _error(409, "busy", "a backup started through the API is still running")
        if wait:
            try:
                backup = self.keeper.backup(label=label, full=full)
            finally:
                self._busy.release()
            return _json_reply(201, _plain(backup))

        def run() -> None:
            # Its outcome reaches clients as events (backup_succeeded / backup_failed).
            try:
                self.keeper.backup(label=label, full=full)
            except sqlkeep.Error:
                pass
            finally:
                self._busy.release()

        # Not a daemon: the interpreter lets it finish before it exits.
        threading.Thread(target=run, name="sqlkeep-web-backup").start()
        base = r.path[: -len("/api/backups")]
        return _json_reply(
            202,
            {
                "run_id": f"run-{secrets.randbits(64):016x}",
                "events": f"{base}/api/events",
                "history": f"{base}/api/history",
            },
        )

    def get_backup(self, r: _Request) -> _Reply:
        return self._ok(self.keeper.get(r.params["id"]))

    def delete_backup(self, r: _Request) -> _Reply:
        q = _query(r.query, {"remote_copies": "bool"})
        return self._ok(self.keeper.delete(r.params["id"], remote_copies=q.get("remote_copies", False)))

    def verify_backup(self, r: _Request) -> _Reply:
        level = _fields(r.body, {"level": (str, "a string")}).get("level")
        if level not in (None, "full", "quick"):
            raise _bad_request(f"{json.dumps(level)} is not a level; use \"quick\" or \"full\"", "level")
        v = self.keeper.verify(r.params["id"], full=level != "quick")
        return _json_reply(200 if v.ok else 422, _plain(v))

    def restore_backup(self, r: _Request) -> _Reply:
        b = _fields(r.body, {"confirm": (bool, "a boolean"), "to": (str, "a path")})
        if b.get("confirm") is not True:
            raise _bad_request(
                'a restore needs {"confirm": true}: it replaces the live database (after a '
                "safety backup) or writes `to`",
                "confirm",
            )
        return self._ok(self.keeper.restore(r.params["id"], b.get("to"), overwrite=False))

    def export_backup(self, r: _Request) -> _Reply:
        to = _fields(r.body, {"to": (str, "a path")}).get("to")
        if to is None:
            raise _bad_request(
                'an export needs {"to": "/path/app.sqlite3.gz"}: the new file (.gz or .zst) '
                "on the server",
                "to",
            )
        return self._ok(self.keeper.export(r.params["id"], to))

    def cancel(self, r: _Request) -> _Reply:
        return self._ok({"cancelled": self.keeper.cancel()})

    def rotation_preview(self, r: _Request) -> _Reply:
        return self._ok(self.keeper.rotate(dry_run=True))

    def rotation_apply(self, r: _Request) -> _Reply:
        return self._ok(self.keeper.rotate(dry_run=False))

    def history(self, r: _Request) -> _Reply:
        limit, offset = _page(r.query)
        return self._ok(self.keeper.history(limit, min(offset, (1 << 63) - 1)))

    def stats(self, r: _Request) -> _Reply:
        return self._ok(_with_core_offsite(self.keeper.stats()))

    def metrics(self, r: _Request) -> _Reply:
        stats, status, health = self.keeper.stats(), self.keeper.status(), self.keeper.health()
        gauges = [
            (
                "sqlkeep_last_success_timestamp_seconds",
                "Time of the last successful backup run (0: none).",
                _timestamp(stats["last_success"]),
            ),
            (
                "sqlkeep_last_failure_timestamp_seconds",
                "Time of the last failed backup run (0: none).",
                _timestamp(stats["last_failure"]),
            ),
            (
                "sqlkeep_average_duration_seconds",
                "Mean duration of successful backup runs.",
                (stats["average_duration_ms"] or 0) / 1000,
            ),
            ("sqlkeep_backups", "Backups present.", stats["count"]),
            ("sqlkeep_backups_bytes", "Total size of the backups present.", stats["total_bytes"]),
            ("sqlkeep_runs_total", "Backup runs logged.", stats["runs"]),
            ("sqlkeep_failures_total", "Failed backup runs logged.", stats["failures"]),
            ("sqlkeep_scheduler_up", "1 when the scheduler runs.", 1 if status["running"] else 0),
            (
                "sqlkeep_health",
                "The health verdict: 0 ok, 1 warning, 2 failing.",
                {"ok": 0, "warning": 1}.get(health["verdict"], 2),
            ),
        ]
        text = "".join(
            f"# HELP {name} {help_}\n# TYPE {name} gauge\n{name} {_metric_value(float(v))}\n"
            for name, help_, v in gauges
        )
        return _Reply(200, text.encode(), _METRICS)


# --- events: keeper callbacks (any thread) to a stream ------------------------------------


class _EventFeed:
    """The keeper's events as SSE frames for a WSGI response: subscribed when made,
    unsubscribed by `close()` (which a WSGI server calls when the client goes away)."""

    def __init__(self, keeper: "sqlkeep.Keeper") -> None:
        self._keeper = keeper
        self._frames: "queue.Queue[Optional[str]]" = queue.Queue(maxsize=1024)
        self._lock = threading.Lock()
        self._id: Optional[int] = keeper.on_event(self._push)

    def _push(self, event: Dict[str, Any]) -> None:
        try:
            self._frames.put_nowait(_sse_frame(event))
        except queue.Full:
            pass  # a slow client skips what it missed rather than holding the others back

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._id is None:
            raise StopIteration
        try:
            frame = self._frames.get(timeout=KEEPALIVE_SECONDS)
        except queue.Empty:
            frame = _KEEPALIVE_FRAME
        if frame is None or self._id is None:
            raise StopIteration
        return frame.encode()

    def close(self) -> None:
        with self._lock:
            sub, self._id = self._id, None
        if sub is not None:
            self._keeper.off_event(sub)
            try:
                self._frames.put_nowait(None)  # wakes a reader waiting in __next__
            except queue.Full:
                pass


class _AsyncEventFeed:
    """The keeper's events as SSE frames for an asyncio server: the callback (on whatever
    thread the event comes from) hands each frame to the loop, the stream awaits them."""

    def __init__(self, keeper: "sqlkeep.Keeper", loop: asyncio.AbstractEventLoop) -> None:
        self._keeper = keeper
        self._loop = loop
        self._frames: "asyncio.Queue[str]" = asyncio.Queue(maxsize=1024)
        self._lock = threading.Lock()
        self._id: Optional[int] = keeper.on_event(self._push)

    def _push(self, event: Dict[str, Any]) -> None:
        frame = _sse_frame(event)
        try:
            self._loop.call_soon_threadsafe(self._put, frame)
        except RuntimeError:  # the loop is closed: nobody reads this stream any more
            self.close()

    def _put(self, frame: str) -> None:
        try:
            self._frames.put_nowait(frame)
        except asyncio.QueueFull:
            pass  # a slow client skips what it missed

    async def frames(self, disconnected: Callable[[], Any]) -> AsyncIterator[str]:
        try:
            while self._id is not None:
                try:
                    frame = await asyncio.wait_for(self._frames.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    if await disconnected():
                        return
                    frame = _KEEPALIVE_FRAME
                yield frame
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            sub, self._id = self._id, None
        if sub is not None:
            self._keeper.off_event(sub)


_EVENT_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# --- FastAPI ------------------------------------------------------------------------------


def fastapi_router(keeper: "sqlkeep.Keeper", prefix: str = "") -> "fastapi.APIRouter":
    """A FastAPI ``APIRouter`` with the routes of ``sqlkeep serve`` over `keeper`, under
    `prefix` (``""`` or a path such as ``"/admin/backups"``). No authentication: include
    it with your own, e.g. ``app.include_router(router, dependencies=[Depends(admin)])``.

    Keeper calls run in the thread pool, never on the event loop; ``POST api/backups``
    without ``?wait=true`` runs the backup on a thread of its own."""
    from fastapi import APIRouter, Request, Response
    from fastapi.responses import StreamingResponse
    from starlette.background import BackgroundTask
    from starlette.concurrency import run_in_threadpool

    api = _Api(keeper)
    router = APIRouter(prefix=prefix)

    def respond(reply: _Reply) -> Response:
        return Response(reply.body, reply.status, headers={"Content-Type": reply.content_type})

    async def read_body(request: Request) -> Optional[bytes]:
        """The body, or None when it is over BODY_LIMIT."""
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > BODY_LIMIT:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > BODY_LIMIT:
                return None
        return bytes(body)

    def endpoint(route: _Route) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            body = b""
            if route.body:
                read = await read_body(request)
                if read is None:
                    return respond(_too_large())
                body = read
            call = _Request(
                {k: str(v) for k, v in request.path_params.items()},
                request.query_params.multi_items(),
                body,
                request.url.path,
            )
            return respond(await run_in_threadpool(api.call, route.name, call))

        handle.__name__ = route.name
        return handle

    async def events(request: Request) -> Response:
        # Subscribed before the response starts: a client that has the headers gets
        # every event from then on.
        feed = _AsyncEventFeed(keeper, asyncio.get_running_loop())
        return StreamingResponse(
            feed.frames(request.is_disconnected),
            media_type=_EVENTS,
            headers=_EVENT_HEADERS,
            background=BackgroundTask(feed.close),
        )

    for route in _ROUTES:
        router.add_api_route(
            route.path,
            events if route.name == "events" else endpoint(route),
            methods=[route.method],
            name=f"sqlkeep_{route.name}",
            include_in_schema=route.name not in ("dashboard", "events", "metrics"),
        )
    return router


# --- Flask --------------------------------------------------------------------------------


def flask_blueprint(keeper: "sqlkeep.Keeper", name: str = "sqlkeep") -> "flask.Blueprint":
    """A Flask ``Blueprint`` named `name` with the routes of ``sqlkeep serve`` over
    `keeper`; register it with ``app.register_blueprint(bp, url_prefix=...)``. No
    authentication: add your own, e.g. ``bp.before_request(require_admin)``.

    The event stream holds a worker for as long as a client listens: serve the app with
    a threaded server (Flask's development server is)."""
    from flask import Blueprint, Response, request

    api = _Api(keeper)
    bp = Blueprint(name, __name__)

    def respond(reply: _Reply) -> "flask.Response":
        return Response(reply.body, status=reply.status, content_type=reply.content_type)

    def read_body() -> Optional[bytes]:
        """The body, or None when it is over BODY_LIMIT."""
        length = request.content_length
        if length is not None and length > BODY_LIMIT:
            return None
        try:
            request.max_content_length = BODY_LIMIT  # Flask >= 3.1: also caps chunked bodies
        except AttributeError:  # pragma: no cover - older Flask
            pass
        from werkzeug.exceptions import RequestEntityTooLarge

        try:
            body = request.get_data(cache=True)
        except RequestEntityTooLarge:
            return None
        return None if len(body) > BODY_LIMIT else body

    def view(route: _Route) -> Callable[..., "flask.Response"]:
        def handle(**params: str) -> "flask.Response":
            body = b""
            if route.body:
                read = read_body()
                if read is None:
                    return respond(_too_large())
                body = read
            call = _Request(
                params,
                list(request.args.items(multi=True)),
                body,
                request.script_root + request.path,
            )
            return respond(api.call(route.name, call))

        handle.__name__ = route.name
        return handle

    def events() -> "flask.Response":
        # Subscribed now; the WSGI server calls the feed's close() when the client goes
        # (noticed at the latest by the next keep-alive write).
        feed = _EventFeed(keeper)
        return Response(feed, content_type=_EVENTS, headers=_EVENT_HEADERS)

    for route in _ROUTES:
        bp.add_url_rule(
            route.path.replace("{id}", "<id>"),
            endpoint=route.name,
            view_func=events if route.name == "events" else view(route),
            methods=[route.method],
        )
    return bp
