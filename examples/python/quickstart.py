"""sqlkeep quickstart: run it in an empty directory.

    python examples/python/quickstart.py

It makes a small application database `app.db` with Python's sqlite3 module, then backs
it up, verifies, guards a migration, restores under the application's open connection,
and shows the schedule and the rotation plan. Backups go to `backups/` beside `app.db`.
"""

import logging
import sqlite3

import sqlkeep

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")

# The application's own database and connection, open the whole time.
app = sqlite3.connect("app.db")
app.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
app.executemany("INSERT INTO notes (text) VALUES (?)", [("buy milk",), ("call Ada",)])
app.commit()

with sqlkeep.Keeper(
    "app.db",
    backup_dir="backups",
    schedule="02:00",
    timezone="local",
    retention={"daily": 30, "weekly": 12, "monthly": 12},
) as keeper:
    # Scheduled backups run in a background thread until the `with` block ends.
    keeper.start()
    print("next scheduled backup:", keeper.next_run)
    print("next three:", [t.isoformat() for t in keeper.upcoming_runs(3)])

    # A backup now, verified as it is written.
    backup = keeper.backup(label="before import")
    print(f"backup {backup.id}: {backup.size_bytes} bytes at {backup.path}, verified={backup.verified}")
    check = keeper.verify(backup.id, full=True)
    print("verify:", check.ok, check.level, check.detail)

    # A migration, with a pre-operation backup first.
    columns = [row[1] for row in app.execute("PRAGMA table_info(notes)")]
    if "done" not in columns:
        with keeper.guard("migration 1: add done column"):
            app.execute("ALTER TABLE notes ADD COLUMN done INTEGER NOT NULL DEFAULT 0")
            app.commit()

    # An import goes wrong...
    app.execute("DELETE FROM notes")
    app.commit()
    print("notes after the bad import:", app.execute("SELECT count(*) FROM notes").fetchone()[0])

    # ...restore the backup. The app's open connection reads the restored data.
    safety = keeper.restore(backup.id)
    assert safety is not None
    print("restored; the replaced content is kept as", safety.id)
    print("notes now:", app.execute("SELECT text FROM notes ORDER BY id").fetchall())

    for b in keeper.list():
        print(f"  {b.created_at:%Y-%m-%d %H:%M:%S} {b.kind:<13} {b.label or '':<32} {b.id}")
    plan = keeper.rotate(dry_run=True)
    print(f"rotation would keep {len(plan.kept)} and delete {len(plan.deleted)}")
    print("stats:", {k: keeper.stats()[k] for k in ("count", "total_bytes", "runs")})

    try:
        keeper.configure(schedule="25:00")
    except sqlkeep.ConfigError as e:
        print("rejected:", e)

app.close()
print("scheduler running after the with block:", keeper.running)
