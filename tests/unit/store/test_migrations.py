"""Schema migrations on real databases: a database made by an earlier version keeps its data
when the newer migrations run (0004: events regrouped, running executions re-indexed)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from sagepipe.store import migrations
from sagepipe.store.db import open_database
from sagepipe.store.queries import Queries
from tests.support.server import fresh_pg_database, require_pg

OLD_EVENTS = [
    ("arn:e1", None, None, None, "Executing", 100.5),
    ("arn:e1", "Train", 1, None, "Starting", 101.0),
    ("arn:e1", "Train", 1, "Starting", "Executing", 101.0),
    ("arn:e2", None, None, "Failed", "Executing", 102.25),
]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "postgres":
        require_pg()
        with fresh_pg_database() as url:
            yield url
    else:
        yield str(tmp_path / "m.db")


def query(url: str, sql: str, rows: list[tuple[Any, ...]] | None = None) -> list[tuple[Any, ...]]:
    """Run `sql` (qmark parameters) on its own connection; executemany over `rows` if given."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as pg, pg.cursor() as cur:
            if rows is not None:
                cur.executemany(sql.replace("?", "%s"), rows)
                return []
            cur.execute(sql)
            return cur.fetchall()
    with contextlib.closing(sqlite3.connect(url)) as conn, conn:
        if rows is not None:
            conn.executemany(sql, rows)
            return []
        return conn.execute(sql).fetchall()


def migrate(url: str, up_to: int | None = None) -> list[int]:
    every = migrations.migration_files()
    db = open_database(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            if up_to is not None:
                kept = [m for m in every if m[0] <= up_to]
                patch.setattr(migrations, "migration_files", lambda: kept)
            return migrations.migrate(db)
    finally:
        db.close()


def test_events_of_an_older_database_are_kept_one_row_each(db_url: str) -> None:
    assert migrate(db_url, up_to=3) == [1, 2, 3]
    query(
        db_url,
        "INSERT INTO events (execution_arn, step_name, attempt, from_status, to_status, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        OLD_EVENTS,
    )

    assert migrate(db_url) == [4]

    rows = query(db_url, "SELECT execution_arn, transitions FROM execution_events ORDER BY id")
    stored = [(arn, json.loads(transitions)) for arn, transitions in rows]
    assert stored == [(arn, [[step, n, old, new, at]]) for arn, step, n, old, new, at in OLD_EVENTS]
    assert migrate(db_url) == []


def test_running_executions_are_counted_through_the_partial_index(tmp_path: Any) -> None:
    path = str(tmp_path / "plan.db")
    migrate(path)
    sql = Queries("sqlite").sql("running_count").replace(":account", "'1'")
    plan = query(path, "EXPLAIN QUERY PLAN " + sql.replace(":region", "'r'"))
    assert any("executions_active" in str(step) for step in plan), plan
