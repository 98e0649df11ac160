"""sqlkeep.tk.BackupView over a keeper of a PostgreSQL database (issue 17), on a real
server started for the test (tests/support/pg_server.py): Back up now, the history row,
and Restore into the live database, driven through the widgets under Xvfb."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlkeep
from sqlkeep.tk import BackupView
from support import Dialogs, Hooks, texts

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from pg_server import PASSWORD, PgServer, pg_server  # noqa: E402

# pgbench -i -s 1
PGBENCH_ROWS = {"pgbench_accounts": 100000, "pgbench_branches": 1, "pgbench_history": 0, "pgbench_tellers": 10}


@pytest.fixture
def pg(monkeypatch: pytest.MonkeyPatch) -> Iterator[PgServer]:
    # The password reaches the programs sqlkeep runs as in production: PGPASSWORD.
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    with pg_server() as server:
        server.create_db("shop")
        server.pgbench_init("shop", 1)
        yield server


def test_the_view_backs_up_lists_and_restores_a_postgres_database(
    make_view: Callable[[sqlkeep.Keeper], BackupView], pg: PgServer, tmp_path: Path, dialogs: Dialogs, hooks: Hooks
) -> None:
    uri = pg.uri("shop")
    with sqlkeep.Keeper(uri, backup_dir=tmp_path / "backups", schedule="off") as keeper:
        view = make_view(keeper)
        assert view.rows == [] and texts(view.stats_labels["count"]) == "0"

        view.label_entry.insert(0, "before the change")
        view.backup_button.invoke()
        assert view.busy, "the backup runs on a worker thread"
        view.wait_idle()

        (backup,) = keeper.list()
        assert backup.postgres is not None
        assert {t["table"]: t["rows"] for t in backup.postgres["tables"]} == PGBENCH_ROWS
        level, text = view.notification
        assert level == "success" and text.startswith("Backup “before the change” succeeded"), text
        assert text.endswith(", verified."), text
        (row,) = view.rows
        assert (row.backup_id, row.kind, row.label, row.status) == (backup.id, "manual", "before the change", "verified")
        assert view.table.selection() == (backup.id,)
        assert texts(view.stats_labels["count"]) == "1"

        pg.psql("shop", "UPDATE pgbench_branches SET bbalance = 4242 WHERE bid = 1; DELETE FROM pgbench_tellers WHERE tid > 4")
        view.select(backup.id)
        # Restoring single tables works on SQLite only.
        assert view.restore_button.cget("state") == "normal"
        assert view.restore_table_button.cget("state") == "disabled"
        dialogs.answers.append(True)
        view.restore_button.invoke()
        view.wait_idle()

        ((title, message),) = dialogs.questions
        assert title == "Restore backup"
        assert uri in message, "names the database that will be replaced"
        assert "safety copy" in message
        # No comparison for PostgreSQL (diff is SQLite's): the question says what the restore does.
        assert "cannot be shown" not in message, message
        assert pg.row_counts("shop") == PGBENCH_ROWS
        assert pg.psql("shop", "SELECT bbalance FROM pgbench_branches WHERE bid = 1") == "0"
        level, text = view.notification
        assert level == "success", text
        top = view.rows[0]
        assert top.kind == "pre-restore" and top.backup_id is not None and top.backup_id in text
        assert [b.id for b in hooks.restored] == [top.backup_id]
        assert hooks.restored[0].postgres is not None
        assert texts(view.stats_labels["count"]) == "2"
        view.destroy()
