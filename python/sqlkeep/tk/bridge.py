"""Keeper calls off the Tk thread, and their results back onto it.

Tk widgets may only be touched from the thread that runs the Tk loop, while a backup
takes seconds and the scheduler's events arrive on the scheduler's thread. A
``WorkerBridge`` runs work on two worker threads (actions one at a time; reads on their
own, so a refresh does not wait behind a long backup) and puts every result, and every
item posted from another thread, into one inbox that only the polling thread empties.

Pure: no tkinter. The view polls the inbox with ``after()``; tests poll it directly.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import time
from typing import Any, Callable

log = logging.getLogger("sqlkeep.tk")


class WorkerBridge:
    """Two single-thread executors and the inbox of the thread that polls it.

    ``submit_action``/``submit_read`` and the ``run_*`` methods belong to the polling
    thread; ``post`` may be called from any thread. Once ``close``d, nothing more runs.
    """

    def __init__(self, name: str = "sqlkeep-tk") -> None:
        self._actions = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{name}-action")
        self._reads = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{name}-read")
        self._inbox: queue.Queue[Callable[[], None]] = queue.Queue()
        # Only the polling thread changes it: +1 on submit, -1 when the result is handled.
        self._pending = 0
        self._closed = False

    def submit_action(
        self, work: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[BaseException], None]
    ) -> None:
        """Runs `work` after the actions submitted before it; `done(result)` or
        `failed(exception)` then runs on the polling thread."""
        self._submit(self._actions, work, done, failed)

    def submit_read(
        self, work: Callable[[], Any], done: Callable[[Any], None], failed: Callable[[BaseException], None]
    ) -> None:
        """Like ``submit_action``, on the read thread (beside a running action)."""
        self._submit(self._reads, work, done, failed)

    def _submit(
        self,
        executor: concurrent.futures.ThreadPoolExecutor,
        work: Callable[[], Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        if self._closed:
            return
        self._pending += 1
        future = executor.submit(work)

        def deliver(f: concurrent.futures.Future[Any]) -> None:
            self._inbox.put(lambda: self._finish(f, done, failed))

        future.add_done_callback(deliver)

    def _finish(
        self,
        future: concurrent.futures.Future[Any],
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None],
    ) -> None:
        self._pending -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            failed(error)
        else:
            done(future.result())

    def post(self, item: Callable[[], None]) -> None:
        """Has `item()` run on the polling thread. Safe from any thread."""
        self._inbox.put(item)

    def _run(self, item: Callable[[], None]) -> None:
        if self._closed:
            return
        try:
            item()
        except Exception:
            # A bug in one handler must not stop the inbox for the others.
            log.exception("sqlkeep.tk: a result handler failed")

    def run_ready(self, budget_s: float) -> None:
        """Runs the items waiting in the inbox, for at most about `budget_s` seconds
        (the rest waits for the next poll, so the Tk loop stays responsive)."""
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._run(item)

    def run_next(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for one item and runs it; whether one came."""
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return False
        self._run(item)
        return True

    @property
    def pending(self) -> int:
        """Work submitted whose result has not been handled yet."""
        return self._pending

    @property
    def idle(self) -> bool:
        """No work is running and no result or posted item is waiting."""
        return self._pending == 0 and self._inbox.empty()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Drops what is queued, cancels work not started yet and runs nothing more; work
        already running finishes on its thread and its result is dropped."""
        self._closed = True
        self._actions.shutdown(wait=False, cancel_futures=True)
        self._reads.shutdown(wait=False, cancel_futures=True)
