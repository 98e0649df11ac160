"""The PostgreSQL source (issue 17) through the Python face, against a real server started
for this module (tests/support/pg_server.py) with pgbench's tables: the backup's facts,
verification, listing, restores into a new and into the live database, the exception
each failure raises, and a password written into the URI."""

from __future__ import annotations

import itertools
import json
import sys
import warnings
from pathlib import Path
from typing import Iterator

import pytest

import sqlkeep

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pg_server import PASSWORD, PgServer, pg_server  # noqa: E402

# pgbench -i -s 1
PGBENCH_ROWS = {"pgbench_accounts": 100000, "pgbench_branches": 1, "pgbench_history": 0, "pgbench_tellers": 10}

_names = itertools.count(1)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    with pg_server() as server:
        yield server


@pytest.fixture(autouse=True)
def pg_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The password reaches the programs sqlkeep runs as in production: PGPASSWORD."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.delenv("PGPASSFILE", raising=False)


@pytest.fixture
def shop(pg: PgServer) -> str:
    """A new database with pgbench's tables (scale 1), named for this test alone."""
    name = f"shop_{next(_names)}"
    pg.create_db(name)
    pg.pgbench_init(name, 1)
    return name


def make_keeper(uri: str, tmp_path: Path) -> sqlkeep.Keeper:
    return sqlkeep.Keeper(uri, backup_dir=tmp_path / "backups", schedule="off", test_restore_every_days=0)


def recorded_rows(b: sqlkeep.Backup) -> dict[tuple[str, str], int]:
    assert b.postgres is not None
    return {(t["schema"], t["table"]): t["rows"] for t in b.postgres["tables"]}


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def test_backup_records_the_facts_verifies_lists_and_restores_into_a_new_database(
    pg: PgServer, shop: str, tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no password in the URI: no warning
        keeper = make_keeper(pg.uri(shop), tmp_path)
    assert keeper.config["database"] == pg.uri(shop)

    b = keeper.backup(label="from python")

    assert b.id.startswith(f"{shop}-") and b.path.name == f"{b.id}.pgdump.gz"
    assert b.label == "from python" and b.kind == "manual"
    # The URI as it is, not folded into a Path.
    assert b.database == pg.uri(shop) and isinstance(b.database, str)
    facts = b.postgres
    assert facts is not None
    assert facts["database"] == shop
    assert facts["server_version"] == pg.psql("postgres", "SHOW server_version")
    assert facts["pg_dump_version"].startswith("pg_dump (PostgreSQL) ")
    assert recorded_rows(b) == {("public", t): n for t, n in PGBENCH_ROWS.items()}
    # The manifest the core wrote beside the file says the same.
    manifest = json.loads((b.path.parent / f"{b.id}.json").read_text())
    assert manifest["postgres"] == facts and manifest["requires"] == ["postgres"]
    # Each read is a new dict: the record stays a snapshot.
    facts["tables"].clear()
    assert b.postgres == manifest["postgres"] and len(manifest["postgres"]["tables"]) == 4
    # Checked right after the backup by a restore into a scratch database.
    assert b.verified and b.verification is not None and b.verification.level == "full"
    assert "matching row counts" in b.verification.detail

    quick = keeper.verify(b.id, full=False)
    assert (quick.ok, quick.level) == (True, "quick")
    assert "pg_restore --list ok" in quick.detail
    full = keeper.verify(b.id)
    assert (full.ok, full.level) == (True, "full")
    assert "100011 rows" in full.detail

    (listed,) = keeper.list()
    assert listed == b and listed.postgres == manifest["postgres"]
    assert keeper.get(b.id).postgres == manifest["postgres"]

    assert keeper.restore(b.id, to="restored_py") is None
    assert "restored_py" in pg.databases()
    assert pg.row_counts("restored_py") == pg.row_counts(shop) == PGBENCH_ROWS
    # An existing database is replaced only when asked.
    with pytest.raises(sqlkeep.ConfigError, match="already exists"):
        keeper.restore(b.id, to="restored_py")
    pg.psql("restored_py", "DELETE FROM pgbench_tellers")
    assert keeper.restore(b.id, to="restored_py", overwrite=True) is None
    assert pg.row_counts("restored_py") == PGBENCH_ROWS
    pg.drop_db("restored_py")


def test_restore_into_the_live_database_brings_it_back_after_a_safety_backup(
    pg: PgServer, shop: str, tmp_path: Path
) -> None:
    keeper = make_keeper(pg.uri(shop), tmp_path)
    good = keeper.backup(label="good")
    pg.psql(shop, "UPDATE pgbench_branches SET bbalance = 4242 WHERE bid = 1; DELETE FROM pgbench_tellers WHERE tid > 4")
    assert pg.row_counts(shop)["pgbench_tellers"] == 4

    safety = keeper.restore(good.id)

    assert pg.row_counts(shop) == PGBENCH_ROWS
    assert pg.psql(shop, "SELECT bbalance FROM pgbench_branches WHERE bid = 1") == "0"
    # The safety backup holds the state the restore replaced.
    assert safety is not None and safety.kind == "pre-restore"
    assert recorded_rows(safety)[("public", "pgbench_tellers")] == 4
    assert [b.id for b in keeper.list()] == [safety.id, good.id]
    keeper.restore(safety.id, to=f"{shop}_before")
    assert pg.psql(f"{shop}_before", "SELECT bbalance FROM pgbench_branches WHERE bid = 1") == "4242"
    pg.drop_db(f"{shop}_before")


def test_an_unreachable_server_raises_postgres_error(tmp_path: Path) -> None:
    keeper = make_keeper("postgresql://postgres@127.0.0.1:1/shop", tmp_path)
    with pytest.raises(sqlkeep.PostgresError) as e:
        keeper.backup()
    assert isinstance(e.value, sqlkeep.Error) and not isinstance(e.value, sqlkeep.NotFoundError)
    assert (e.value.kind, e.value.operation) == ("postgres", "backup")
    assert "127.0.0.1:1/shop" in str(e.value) and "refused" in str(e.value)
    assert keeper.list() == []


def test_a_database_that_does_not_exist_raises_not_found(pg: PgServer, tmp_path: Path) -> None:
    keeper = make_keeper(pg.uri("no_such_db"), tmp_path)
    with pytest.raises(sqlkeep.NotFoundError) as e:
        keeper.backup()
    assert e.value.kind == "not_found"
    assert '"no_such_db" does not exist' in str(e.value)
    assert keeper.list() == []


def test_a_password_in_the_uri_is_removed_with_a_warning_and_never_written(
    pg: PgServer, shop: str, tmp_path: Path
) -> None:
    in_uri = "uri-secret-Py9q"
    uri = f"postgresql://postgres:{in_uri}@127.0.0.1:{pg.port}/{shop}"

    with pytest.warns(UserWarning) as caught:
        keeper = make_keeper(uri, tmp_path)

    (w,) = caught
    text = str(w.message)
    assert "contained a password" in text and "PGPASSWORD" in text and in_uri not in text
    # Attributed to the line that made the keeper, as warnings.warn in Python would be.
    assert w.filename == __file__
    assert keeper.config["database"] == pg.uri(shop)
    assert in_uri not in repr(keeper.config) and in_uri not in repr(keeper)
    # The configuration-dict form warns the same way, and a filter can make it an error.
    with pytest.warns(UserWarning, match="contained a password"):
        sqlkeep.Keeper.from_config({"database": uri, "backup_dir": str(tmp_path / "other")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning):
            make_keeper(uri, tmp_path)

    # The password used is PGPASSWORD's; the one in the URI was never needed.
    b = keeper.backup()
    assert keeper.verify(b.id).ok
    assert b.database == pg.uri(shop)
    keeper.restore(b.id, to=f"{shop}_copy")
    pg.drop_db(f"{shop}_copy")
    written = files_under(tmp_path / "backups")
    assert any(p.name.endswith(".pgdump.gz") for p in written)
    for path in written:
        content = path.read_bytes()
        for secret in (in_uri, PASSWORD):
            assert secret.encode() not in content, f"{secret} in {path}"


def test_diff_and_table_restore_say_they_work_on_sqlite_only(pg: PgServer, shop: str, tmp_path: Path) -> None:
    keeper = make_keeper(pg.uri(shop), tmp_path)
    b = keeper.backup()
    with pytest.raises(sqlkeep.ConfigError) as e:
        keeper.diff(b.id)
    assert e.value.kind == "invalid_argument" and "SQLite" in str(e.value)
    with pytest.raises(sqlkeep.ConfigError) as e:
        keeper.restore_table(b.id, "pgbench_accounts")
    assert e.value.kind == "invalid_argument" and "SQLite" in str(e.value)
    assert pg.row_counts(shop) == PGBENCH_ROWS
