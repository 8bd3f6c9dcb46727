"""Group commit on a real SQLite file: batching, isolation of a failing transaction, order,
slow transactions off the loop, and callers that gave up."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sagepipe.store.group_commit import GroupCommit
from sagepipe.store.queries import Queries


@pytest.fixture
def path(tmp_path: Any) -> Iterator[str]:
    file = str(tmp_path / "g.db")
    with sqlite3.connect(file) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # as the service's database always is
        conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, thread TEXT)")
    yield file


def writer(path: str) -> GroupCommit:
    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    # The functions get the raw cursor: these tests need no named queries.
    return GroupCommit(connect, Queries("sqlite"), lambda cursor, queries: cursor)


def stored(path: str) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT n, thread FROM t ORDER BY n").fetchall()


def insert(n: int) -> Any:
    def fn(cursor: sqlite3.Cursor) -> int:
        cursor.execute("INSERT INTO t VALUES (?, ?)", (n, threading.current_thread().name))
        return n

    return fn


def test_one_round_is_one_batch_and_a_failing_transaction_is_rolled_back_alone(path):
    commits: list[str] = []

    async def main() -> list[Any]:
        group = writer(path)
        conn = group._connection()
        conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

        def fails(cursor: sqlite3.Cursor) -> None:
            cursor.execute("INSERT INTO t VALUES (100, 'x')")
            raise ValueError("no")

        futures = [group.submit_async(insert(1)), group.submit_async(fails)]
        futures.append(group.submit_async(insert(2)))
        results = await asyncio.gather(*futures, return_exceptions=True)
        group.close()
        return results

    results = asyncio.run(main())
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], ValueError)
    assert [n for n, _ in stored(path)] == [1, 2]  # 100 was rolled back, its neighbours kept
    assert commits == ["COMMIT"]


def test_functions_see_the_ones_before_them_and_run_on_the_loop_thread(path):
    async def main() -> list[Any]:
        group = writer(path)

        def count(cursor: sqlite3.Cursor) -> int:
            return int(cursor.execute("SELECT count(*) FROM t").fetchone()[0])

        results = await asyncio.gather(
            group.submit_async(insert(1)), group.submit_async(count), group.submit_async(insert(2))
        )
        later = await group.submit_async(count)
        group.close()
        return [*results, later]

    assert asyncio.run(main()) == [1, 1, 2, 2]
    assert {thread for _, thread in stored(path)} == {"MainThread"}


def test_a_slow_transaction_runs_off_the_loop_in_its_turn(path):
    async def main() -> None:
        group = writer(path)
        futures = [
            group.submit_async(insert(1)),
            group.submit_async(insert(2), slow=True),
            group.submit_async(insert(3)),
        ]
        await asyncio.gather(*futures)
        group.close()

    asyncio.run(main())
    rows = stored(path)
    assert [n for n, _ in rows] == [1, 2, 3]
    assert rows[0][1] == rows[2][1] == "MainThread"
    assert rows[1][1].startswith("sqlite-commit")


def test_a_caller_that_gave_up_before_its_turn_is_skipped(path):
    async def main() -> None:
        group = writer(path)
        first = group.submit_async(insert(1), slow=True)  # keeps the connection busy
        await asyncio.sleep(0)
        abandoned = group.submit_async(insert(2))
        abandoned.cancel()
        await asyncio.gather(first, group.submit_async(insert(3)))
        group.close()

    asyncio.run(main())
    assert [n for n, _ in stored(path)] == [1, 3]


def test_callers_without_a_loop_commit_on_their_own_thread(path):
    group = writer(path)
    assert group.submit(insert(7)) == 7
    with pytest.raises(sqlite3.IntegrityError):
        group.submit(insert(7))
    group.close()
    assert stored(path) == [(7, "MainThread")]


def test_a_batch_whose_commit_fails_answers_every_caller_and_the_next_batch_runs(path):
    with sqlite3.connect(path) as conn:  # a foreign key checked only at COMMIT
        conn.execute(
            "CREATE TABLE child (parent INTEGER REFERENCES t (n) DEFERRABLE INITIALLY DEFERRED)"
        )

    def orphan(cursor: sqlite3.Cursor) -> str:
        cursor.execute("INSERT INTO child VALUES (99)")
        return "ran"

    async def main() -> list[Any]:
        group = writer(path)
        group._connection().execute("PRAGMA foreign_keys=ON")
        failed = await asyncio.gather(
            group.submit_async(insert(1)), group.submit_async(orphan), return_exceptions=True
        )
        after = await group.submit_async(insert(2))
        group.close()
        return [*failed, after]

    first, second, after = asyncio.run(main())
    assert isinstance(first, sqlite3.IntegrityError)
    assert isinstance(second, sqlite3.IntegrityError)
    assert after == 2
    assert [n for n, _ in stored(path)] == [2]


def test_while_another_process_holds_the_write_lock_the_loop_keeps_running(path):
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # what another process writing to the file does

    async def main() -> tuple[float, bool, int]:
        group = writer(path)
        waiting = group.submit_async(insert(1))
        t0 = time.perf_counter()
        await asyncio.sleep(0.2)  # the loop turns while the write waits for the lock
        slept = time.perf_counter() - t0
        done_while_locked = waiting.done()
        other.rollback()
        result = await waiting
        group.close()
        return slept, done_while_locked, result

    slept, done_while_locked, result = asyncio.run(main())
    assert slept < 1.0
    assert not done_while_locked
    assert result == 1
    assert stored(path)[0][0] == 1 and stored(path)[0][1].startswith("sqlite-commit")
    other.close()
