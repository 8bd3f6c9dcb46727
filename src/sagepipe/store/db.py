"""Database access: one async entry point, `Database.run(fn)`, that runs a small synchronous
function inside one transaction (on a worker thread; SQLite's writes on the event loop itself,
see group_commit.py). Keeping transactions synchronous and short means no transaction is ever
held open across an await (DESIGN habit 4).

SQLite: one write connection, its transactions group-committed from the event loop (SQLite
serialises writers anyway), plus reader threads on WAL.
PostgreSQL: a pool of connections, one worker thread each.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sagepipe.store.group_commit import GroupCommit
from sagepipe.store.queries import Queries

T = TypeVar("T")


class Tx:
    """A transaction in progress. Queries are named (store/sql/queries.sql)."""

    def __init__(self, cursor: Any, queries: Queries) -> None:
        self._cur = cursor
        self._queries = queries

    def all(self, query: str, /, **params: Any) -> list[dict[str, Any]]:
        self._cur.execute(self._queries.sql(query), params)
        return [dict(row) for row in self._cur.fetchall()]

    def one(self, query: str, /, **params: Any) -> dict[str, Any] | None:
        self._cur.execute(self._queries.sql(query), params)
        row = self._cur.fetchone()
        return dict(row) if row is not None else None

    def exec(self, query: str, /, **params: Any) -> int:
        self._cur.execute(self._queries.sql(query), params)
        return int(self._cur.rowcount)

    @property
    def serialized(self) -> bool:
        """Write transactions run one at a time (SQLite's one write connection): no other
        request's write can come between two statements of this transaction."""
        return self._queries.dialect == "sqlite"

    def lock_scope(self, scope: str) -> None:
        """Hold the account-and-region lock until the transaction ends: checks of a quota and
        the insert they allow cannot interleave with another request's. SQLite needs no
        statement for it: its one write connection runs write transactions one at a time."""
        if not self.serialized:
            self._cur.execute(self._queries.sql("lock_scope"), {"scope": scope})

    def many(self, query: str, rows: list[dict[str, Any]], /) -> None:
        if not rows:
            return
        sql = self._queries.sql(query)
        if self._queries.dialect == "postgres":
            # One round trip per chunk: the rows bound client-side into one multi-statement
            # query. Not psycopg's executemany: it pipelines, and PostgreSQL does not arm
            # idle_in_transaction_session_timeout mid-pipeline, so a server frozen there
            # would hold its locks for ever.
            for start in range(0, len(rows), 200):
                chunk = rows[start : start + 200]
                self._cur.execute(";".join(self._cur.mogrify(sql, row) for row in chunk))
        else:
            self._cur.executemany(sql, rows)


class Database:
    dialect: str

    async def run(self, fn: Callable[[Tx], T], *, readonly: bool = False, slow: bool = False) -> T:
        """Run `fn(tx)` in one transaction. `slow`: it may take long (deleting everything a
        pipeline ran), so it must not run where it would hold up other requests."""
        raise NotImplementedError

    async def run_point_read(self, fn: Callable[[Tx], T]) -> T:
        """A read of a few rows by key (a Describe): `run(fn, readonly=True)` unless the
        backend has a cheaper way."""
        return await self.run(fn, readonly=True)

    def run_sync(self, fn: Callable[[Tx], T]) -> T:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: str, *, readers: int = 2) -> None:
        self.path = path
        self.queries = Queries("sqlite")
        self._local = threading.local()
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._writer = GroupCommit(self.connect, self.queries, Tx)
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        # First: the pragmas below may themselves wait for a lock (migrations at start-up).
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before we acknowledge the request it belongs to.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def _transaction(self, fn: Callable[[Tx], T], begin: str) -> T:
        conn = self._connection()
        cur = conn.cursor()
        cur.execute(begin)
        try:
            result = fn(Tx(cur, self.queries))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return result

    async def run(self, fn: Callable[[Tx], T], *, readonly: bool = False, slow: bool = False) -> T:
        if readonly:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._readers, self._transaction, fn, "BEGIN")
        result: T = await self._writer.submit_async(fn, slow=slow)
        return result

    async def run_point_read(self, fn: Callable[[Tx], T]) -> T:
        # On the calling thread: a WAL read never waits for the writer, and a keyed lookup
        # takes a few microseconds, far less than the hop to a reader thread and back
        # (measured: Describe throughput more than doubles).
        return self._transaction(fn, "BEGIN")

    def run_sync(self, fn: Callable[[Tx], T]) -> T:
        result: T = self._writer.submit(fn)
        return result

    def close(self) -> None:
        self._writer.close()
        self._readers.shutdown(wait=True)


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, *, size: int = 8, stalled_after_ms: int = 10000) -> None:
        from psycopg import ClientCursor
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.queries = Queries("postgres")
        self._pool = ConnectionPool(
            url,
            min_size=2,
            max_size=size,
            kwargs={
                "row_factory": dict_row,
                "cursor_factory": ClientCursor,
                # A stalled server (paused, swapping) must not keep row locks that block the
                # servers taking over its executions: PostgreSQL ends such a session.
                "options": f"-c idle_in_transaction_session_timeout={stalled_after_ms}",
            },
            open=True,
        )
        # Client-side binding: portable queries test `:param IS NULL`, which server-side
        # binding cannot type.
        self._pool.wait(timeout=15)
        self._executor = ThreadPoolExecutor(size, thread_name_prefix="pg")

    def _transaction(self, fn: Callable[[Tx], T]) -> T:
        import psycopg.errors

        for attempt in range(20):
            try:
                with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    return fn(Tx(cur, self.queries))
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                # Safe to repeat: the whole transaction was rolled back.
                if attempt == 19:
                    raise
        raise AssertionError("unreachable")

    async def run(self, fn: Callable[[Tx], T], *, readonly: bool = False, slow: bool = False) -> T:
        loop = asyncio.get_running_loop()  # every transaction is on a pool thread already
        return await loop.run_in_executor(self._executor, self._transaction, fn)

    def run_sync(self, fn: Callable[[Tx], T]) -> T:
        return self._transaction(fn)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._pool.close()


def open_database(url: str, *, stalled_after_ms: int = 10000) -> Database:
    """`postgresql://...` selects PostgreSQL; anything else is a SQLite file path
    (optionally written `sqlite:///path`)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, stalled_after_ms=stalled_after_ms)
    path = url.removeprefix("sqlite://")
    if path.startswith("//"):
        path = path[1:]
    return SqliteDatabase(path)
