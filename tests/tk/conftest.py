"""Fixtures for the tests of `sqlkeep.tk` and the example employee app. They need an X
display: scripts/test-tk runs them under xvfb-run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import customtkinter as ctk
import pytest
import sqlkeep
from sqlkeep.tk import BackupView
from support import Dialogs, Hooks, make_db

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config: pytest.Config) -> None:
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise pytest.UsageError(
            "tests/tk build real windows and need an X display: run scripts/test-tk, "
            "or xvfb-run -a -s '-screen 0 1280x800x24' python -m pytest tests/tk"
        )


@pytest.fixture
def root() -> Iterator[ctk.CTk]:
    ctk.set_appearance_mode("light")
    window = ctk.CTk()
    window.geometry("1200x760+0+0")
    window.update()
    yield window
    # CustomTkinter's own timers would fire into a destroyed window and print errors.
    for after_id in window.tk.splitlist(window.tk.call("after", "info")):
        window.tk.call("after", "cancel", after_id)
    window.destroy()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db")


@pytest.fixture
def keeper(db: Path) -> Iterator[sqlkeep.Keeper]:
    with sqlkeep.Keeper(db, schedule="off") as k:
        yield k


@pytest.fixture
def dialogs() -> Dialogs:
    return Dialogs()


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def make_view(root: ctk.CTk, dialogs: Dialogs, hooks: Hooks) -> Callable[[sqlkeep.Keeper], BackupView]:
    """Builds a BackupView over a keeper in the test window, with the dialogs answered by
    `dialogs`, and waits for its first data."""

    def make(keeper: sqlkeep.Keeper) -> BackupView:
        view = BackupView(
            root,
            keeper,
            confirm=dialogs.confirm,
            ask_open_file=dialogs.ask_open_file,
            ask_save_file=dialogs.ask_save_file,
            show_info=dialogs.show_info,
            choose=dialogs.choose,
            on_restore=hooks.restored.append,
            on_configure=hooks.configured.append,
        )
        view.pack(fill="both", expand=True, padx=10, pady=10)
        view.wait_idle()
        return view

    return make


@pytest.fixture
def view(make_view: Callable[[sqlkeep.Keeper], BackupView], keeper: sqlkeep.Keeper) -> BackupView:
    return make_view(keeper)
