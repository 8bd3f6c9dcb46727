"""Group commit for SQLite: every write transaction submitted during one round of the event
loop goes into one batch, and the batch is acknowledged after one COMMIT (one fsync).

The batch's statements run on the loop's own thread; only the COMMIT, which waits for the
disk, goes to a helper thread, and the loop serves other requests meanwhile. Running the
statements on a separate writer thread instead costs a hand-over of the GIL around every
statement (the sqlite3 module releases it for each one); on the Start benchmark this
arrangement answers about a sixth more requests per second (bench/README.md). A transaction
known to be long (a whole pipeline's rows to delete) runs alone on the helper thread instead,
so that it does not hold up the loop. Nor does the loop ever wait for the file's write lock:
if another process holds it, the batch waits for it on the helper thread.

Each caller's function runs inside its own SAVEPOINT, so one that raises is rolled back alone
and the others still commit. Serial semantics are kept: functions run one after another, in
the order submitted, each seeing the ones before it; the next batch starts once the previous
COMMIT has returned."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sagepipe.store.queries import Queries

T = TypeVar("T")
MAX_BATCH = 256
LOCK_WAIT_MS = 10000  # how long a write waits for another process's write lock on the file


@dataclass
class _Work:
    fn: Callable[[Any], Any]
    future: asyncio.Future[Any]
    slow: bool


Outcome = tuple[bool, Any]  # (succeeded, result or exception)


class GroupCommit:
    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        queries: Queries,
        make_tx: Callable[..., Any],
    ) -> None:
        self._connect = connect
        self._queries = queries
        self._make_tx = make_tx
        self._conn: sqlite3.Connection | None = None
        # Held from BEGIN until COMMIT returns, whichever thread that is on: callers without
        # an event loop (`submit`) take it too.
        self._lock = threading.Lock()
        self._disk = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        self._pending: deque[_Work] = deque()
        self._scheduled = False
        self._busy = False  # a COMMIT or a slow transaction is on the helper thread

    # ------------------------------------------------------------------ callers
    def submit_async(self, fn: Callable[[Any], Any], *, slow: bool = False) -> asyncio.Future[Any]:
        """Run `fn(tx)` in a write transaction; the future settles once it is on disk."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append(_Work(fn, future, slow))
        self._schedule(loop)
        return future

    def submit(self, fn: Callable[[Any], Any]) -> Any:
        """Run `fn(tx)` in its own committed transaction on the calling thread (no loop)."""
        return self._waiting_transaction(
            lambda conn: fn(self._make_tx(conn.cursor(), self._queries))
        )

    def close(self) -> None:
        self._disk.shutdown(wait=True)
        for work in self._pending:
            if not work.future.done():
                work.future.set_exception(RuntimeError("the database is closed"))
        self._pending.clear()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ batches
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = self._connect()
            conn.execute("PRAGMA busy_timeout=0")  # waits are asked for: _waiting_transaction
            # Each function of a batch runs in a SAVEPOINT, whose undo copies (one per page it
            # touches) SQLite otherwise spills to a temporary file past 64 KiB: about 40 write
            # calls per StartPipelineExecution on the event loop. Memory holds a batch's few MB.
            conn.execute("PRAGMA temp_store=MEMORY")
            self._conn = conn
        return self._conn

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # Run at the end of this loop round: everything submitted in it joins the batch.
        if self._pending and not self._busy and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._next, loop)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = False
        if self._busy:
            return
        while self._pending and self._pending[0].future.cancelled():
            self._pending.popleft()  # its caller gave up before it ran: skipped
        if not self._pending:
            return
        if self._pending[0].slow:
            work = self._pending.popleft()
            self._on_helper(loop, [work], lambda: [self._alone(work.fn)])
            return
        batch: list[_Work] = []
        while self._pending and not self._pending[0].slow and len(batch) < MAX_BATCH:
            work = self._pending.popleft()
            if not work.future.cancelled():
                batch.append(work)
        self._lock.acquire()
        try:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")  # busy_timeout 0: never waits here
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # any SQLITE_BUSY_*
                    raise
                self._lock.release()  # another process writes: wait for it off the loop
                self._on_helper(loop, batch, lambda: self._run_waiting(batch))
                return
            outcomes = self._run_batch(conn, batch)
        except BaseException as error:  # the batch as a whole failed: nobody's work is on disk
            if self._conn is not None:
                _rollback(self._conn)
            self._lock.release()
            _settle(batch, [(False, error)] * len(batch))
            self._schedule(loop)
            return
        self._on_helper(loop, batch, lambda: self._commit(conn, outcomes))

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Work]) -> list[Outcome]:
        """The batch's functions, in the transaction begun already."""
        cursor = conn.cursor()
        outcomes: list[Outcome] = []
        for work in batch:
            cursor.execute("SAVEPOINT work")
            try:
                outcomes.append((True, work.fn(self._make_tx(cursor, self._queries))))
            except Exception as error:
                cursor.execute("ROLLBACK TO work")
                outcomes.append((False, error))
            cursor.execute("RELEASE work")
        return outcomes

    def _commit(self, conn: sqlite3.Connection, outcomes: list[Outcome]) -> list[Outcome]:
        """On the helper thread, with the lock taken by the loop: the batch's outcomes hold
        once this returns."""
        try:
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        finally:
            self._lock.release()
        return outcomes

    def _run_waiting(self, batch: list[_Work]) -> list[Outcome]:
        """The whole batch on the helper thread, once the file's write lock is free."""
        return self._waiting_transaction(lambda conn: self._run_batch(conn, batch))

    def _waiting_transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """`body(conn)` in one committed transaction, off the loop: waits up to LOCK_WAIT_MS
        for another process's write lock."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                finally:
                    conn.execute("PRAGMA busy_timeout=0")
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return result

    def _alone(self, fn: Callable[[Any], Any]) -> Outcome:
        """A slow transaction, on the helper thread."""
        try:
            return True, self.submit(fn)
        except Exception as error:
            return False, error

    def _on_helper(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Work],
        job: Callable[[], list[Outcome]],
    ) -> None:
        """Run `job` on the helper thread; then settle the batch with the outcomes it returns
        (or its exception, for all) on the loop, and start the next batch."""
        self._busy = True

        def finished(done: Future[list[Outcome]]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self._finished, loop, batch, done)

        self._disk.submit(job).add_done_callback(finished)

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Work],
        done: Future[list[Outcome]],
    ) -> None:
        self._busy = False
        error = done.exception()
        _settle(batch, [(False, error)] * len(batch) if error is not None else done.result())
        self._schedule(loop)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.rollback()


def _settle(batch: list[_Work], outcomes: list[Outcome]) -> None:
    for work, (ok, value) in zip(batch, outcomes, strict=True):
        if work.future.cancelled():
            continue
        if ok:
            work.future.set_result(value)
        else:
            work.future.set_exception(value)
