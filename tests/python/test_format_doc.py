"""docs/FORMAT.md says a person can rebuild an incremental backup without sqlkeep: its
Python recipe, run as written on a real backup folder, gives the database of that
moment, also when the chain's full backup was deleted and lives on in pieces/."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlkeep
from conftest import dump

FORMAT = Path(__file__).resolve().parents[2] / "docs" / "FORMAT.md"


def recipe() -> str:
    text = FORMAT.read_text()
    section = text.split("## Rebuilding a database by hand", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "FORMAT.md has the recipe"
    return match.group(1)


def test_the_format_recipe_rebuilds_an_incremental_backup(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    con.executemany(
        "INSERT INTO notes (body) VALUES (?)", [(f"note {i} " + "x" * 500,) for i in range(3000)]
    )
    con.commit()
    script = tmp_path / "rebuild.py"
    script.write_text(recipe())
    with sqlkeep.Keeper(db, incremental=True, schedule="off") as keeper:
        full = keeper.backup()
        moments = []
        for day in range(3):
            con.execute("UPDATE notes SET body = ? WHERE id % 97 = ?", (f"day {day}", day))
            con.execute("INSERT INTO notes (body) VALUES (?)", (f"new {day}",))
            con.commit()
            b = keeper.backup()
            assert b.incremental is not None
            moments.append((b, dump(db)))
        keeper.delete(full.id)
        folder = Path(keeper.config["backup_dir"])
        assert (folder / "pieces" / Path(full.path).name).exists()
        for b, expected in moments:
            out = tmp_path / f"{b.id}.db"
            subprocess.run(
                [sys.executable, str(script), str(folder), b.id, str(out)], check=True
            )
            assert dump(out) == expected
    con.close()
