"""Group commit for SQLite: one thread owns the write connection, and every transaction that
queued up while the previous commit was on its way to disk goes into the next one.

Each caller's function runs inside its own SAVEPOINT, so one that raises is rolled back alone
and the others still commit; all of them are acknowledged only after the shared COMMIT (one
fsync) has returned. Serial semantics are kept: functions run one after another, each seeing
the ones before it.

Callers on an event loop get their answers in one hop per batch and loop (one wake-up of the
loop for the whole batch, not one per transaction)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sagepipe.store.queries import Queries

# Who waits for a transaction: a thread (a concurrent Future) or a coroutine (an asyncio
# Future, settled on its own loop).
Waiter = Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
Work = tuple[Callable[[Any], Any], Waiter]
MAX_BATCH = 256


def _claim(waiter: Waiter) -> bool:
    """False if the waiter gave up before its transaction ran (it is then skipped). An asyncio
    future's flag is read from this thread: a caller cancelled just after the read still has
    its work committed, as a transaction already running always had."""
    if isinstance(waiter, Future):
        return waiter.set_running_or_notify_cancel()
    return not waiter[1].cancelled()


def _deliver(future: Future[Any] | asyncio.Future[Any], ok: bool, value: Any) -> None:
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in outcomes:
        if not future.cancelled():
            _deliver(future, ok, value)


class GroupCommitWriter:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        queries: Queries,
        make_tx: Callable[..., Any],
    ) -> None:
        self._connect = connect
        self._queries = queries
        self._make_tx = make_tx
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="sqlite-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Any], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def submit_async(self, fn: Callable[[Any], Any]) -> asyncio.Future[Any]:
        """`submit` for a coroutine: a future of the running loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((fn, (loop, future)))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        closing = False
        while not closing:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    closing = True
                    break
                batch.append(more)
            try:
                conn = conn or self._connect()
            except Exception as error:  # e.g. the disk is gone: fail this batch, try again later
                live = [waiter for _, waiter in batch if _claim(waiter)]
                _answer(live, [(False, error)] * len(live))
                continue
            self._commit(conn, batch)
        if conn is not None:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Work]) -> None:
        cursor = conn.cursor()
        live = [(fn, waiter) for fn, waiter in batch if _claim(waiter)]
        outcomes: list[tuple[bool, Any]] = []
        try:
            cursor.execute("BEGIN IMMEDIATE")
            for fn, _ in live:
                cursor.execute("SAVEPOINT work")
                try:
                    outcomes.append((True, fn(self._make_tx(cursor, self._queries))))
                except Exception as error:
                    cursor.execute("ROLLBACK TO work")
                    outcomes.append((False, error))
                cursor.execute("RELEASE work")
            cursor.execute("COMMIT")
        except BaseException as error:  # the batch as a whole failed: nobody's work is on disk
            if conn.in_transaction:
                conn.rollback()
            outcomes = [(False, error)] * len(live)
        _answer([waiter for _, waiter in live], outcomes)


def _answer(waiters: list[Waiter], outcomes: list[tuple[bool, Any]]) -> None:
    by_loop: defaultdict[asyncio.AbstractEventLoop, list[Any]] = defaultdict(list)
    for waiter, (ok, value) in zip(waiters, outcomes, strict=True):
        if isinstance(waiter, Future):
            _deliver(waiter, ok, value)
        else:
            by_loop[waiter[0]].append((waiter[1], ok, value))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(_settle, settled)
