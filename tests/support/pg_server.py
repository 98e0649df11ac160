"""A throwaway PostgreSQL server for the Python and Tk tests, as tests/common/pg.rs is for
the Rust ones: Debian's `postgresql` package, `initdb` into a new temp folder, started on
a free port on 127.0.0.1 with its socket in that folder, stopped and removed on exit (also
when the test fails).

    with pg_server() as pg:
        pg.create_db("shop")
        pg.pgbench_init("shop", 1)
        keeper = sqlkeep.Keeper(pg.uri("shop"), ...)   # with PGPASSWORD=PASSWORD set

`initdb` and `pg_ctl` refuse to run as root, so as root they run as the `postgres` user
(`runuser -u postgres --`) on a folder that user owns. Host connections need a password
(`PASSWORD`, scram-sha-256). It reaches PostgreSQL's programs only through `PGPASSWORD`,
as it would in production: the helpers here pass it to psql and pgbench that way, and a
test sets it in its own environment (`monkeypatch.setenv("PGPASSWORD", PASSWORD)`) for
the programs sqlkeep runs. It is distinctive, so a test can search every file sqlkeep
wrote for it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

#: The superuser's password on every test server.
PASSWORD = "pw-Py4w-never-written"


def bin_dir() -> Path:
    """The bin folder of the newest PostgreSQL server installed (initdb, pg_ctl)."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions or not shutil.which("psql") or not shutil.which("pgbench"):
        raise RuntimeError(
            "PostgreSQL is not installed: the postgres tests need the server (initdb, pg_ctl "
            "under /usr/lib/postgresql/*/bin) and psql, pg_dump, pg_restore and pgbench on "
            "PATH (Debian: apt-get install postgresql; scripts/test installs it)"
        )
    return versions[-1]


def _is_root() -> bool:
    return os.geteuid() == 0


def _as_server_user(program: str, *args: str) -> list[str]:
    """The command line of `program` from the server's bin folder, as the `postgres` user
    when we are root."""
    command = [str(bin_dir() / program), *args]
    return ["runuser", "-u", "postgres", "--", *command] if _is_root() else command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(command: list[str], what: str, env: Optional[dict[str, str]] = None) -> str:
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    return out.stdout


class PgServer:
    """A running server on 127.0.0.1:`port`, its files in `root`."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port

    @property
    def data(self) -> Path:
        return self.root / "data"

    def uri(self, db: str) -> str:
        """The URI of database `db` as the superuser, without the password."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": PASSWORD}

    def psql(self, db: str, sql: str) -> str:
        """Runs `sql` with psql on `db`; its unaligned output without headers, stripped
        (rows one a line, columns separated by `|`)."""
        command = ["psql", "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-d", self.uri(db), "-c", sql]
        return _run(command, f"psql {sql!r}", self._env()).strip()

    def create_db(self, db: str) -> None:
        self.psql("postgres", f'CREATE DATABASE "{db}"')

    def drop_db(self, db: str) -> None:
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def databases(self) -> list[str]:
        """The names of the databases on the server."""
        return self.psql("postgres", "SELECT datname FROM pg_database ORDER BY 1").splitlines()

    def pgbench_init(self, db: str, scale: int = 1) -> None:
        """`pgbench -i -s scale` into `db`: pgbench_accounts holds 100000 rows a scale,
        pgbench_branches 1, pgbench_tellers 10, pgbench_history none."""
        _run(["pgbench", "-i", "-q", "-s", str(scale), self.uri(db)], "pgbench -i", self._env())

    def row_counts(self, db: str) -> dict[str, int]:
        """Every table of schema public with its row count: {"pgbench_accounts": 100000, ...}."""
        tables = self.psql(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").splitlines()
        return {t: int(self.psql(db, f'SELECT count(*) FROM public."{t}"')) for t in tables}

    def stop(self) -> None:
        subprocess.run(
            _as_server_user("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
            timeout=120,
        )


def _reachable_by_server_user(root: Path, top: Path) -> None:
    """As root: `root` belongs to the postgres user, and every folder above it up to `top`
    lets it pass (o+x)."""
    subprocess.run(["chown", "-R", "postgres", str(root)], check=True)
    for folder in root.parents:
        if folder == top or folder == Path("/"):
            break
        folder.chmod(folder.stat().st_mode | 0o001)


@contextmanager
def pg_server(parent: Optional[Path] = None) -> Iterator[PgServer]:
    """Starts a new server in a new folder under `parent` (default: the temp folder);
    stops it and removes the folder on exit."""
    bin_dir()  # says what to install, before anything is made
    top = Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="sqlkeep-py-pg.", dir=parent or top))
    server: Optional[PgServer] = None
    try:
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD)
        if _is_root():
            _reachable_by_server_user(root, top)
        _run(
            _as_server_user(
                "initdb",
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
                str(root / "data"),
            ),
            "initdb",
        )
        pwfile.unlink()
        # A free port can be taken between asking and binding: a few tries.
        for attempt in range(3):
            port = _free_port()
            options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            started = subprocess.run(
                _as_server_user("pg_ctl", "-D", str(root / "data"), "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start"),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if started.returncode == 0:
                server = PgServer(root, port)
                break
        if server is None:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed three times: {started.stderr.strip()}\n{log}")
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
