"""Group commit for SQLite: one thread owns the write connection, and every transaction that
queued up while the previous commit was on its way to disk goes into the next one.

Each caller's function runs inside its own SAVEPOINT, so one that raises is rolled back alone
and the others still commit; all of them are acknowledged only after the shared COMMIT (one
fsync) has returned. Serial semantics are kept: functions run one after another, each seeing
the ones before it."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sagepipe.store.queries import Queries

Work = tuple[Callable[[Any], Any], "Future[Any]"]
MAX_BATCH = 256


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
                for _, future in batch:
                    if future.set_running_or_notify_cancel():
                        future.set_exception(error)
                continue
            self._commit(conn, batch)
        if conn is not None:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Work]) -> None:
        cursor = conn.cursor()
        live = [(fn, f) for fn, f in batch if f.set_running_or_notify_cancel()]
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
            for _, future in live:
                future.set_exception(error)
            return
        for (_, future), (ok, value) in zip(live, outcomes, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
