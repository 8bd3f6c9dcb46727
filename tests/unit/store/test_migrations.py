"""Schema migrations on real databases: a database made by an earlier version keeps its data
when the newer migrations run (0004: events regrouped, running executions re-indexed)."""

from __future__ import annotations

import contextlib
import json
import re
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

    assert migrate(db_url, up_to=4) == [4]

    rows = query(db_url, "SELECT execution_arn, transitions FROM execution_events ORDER BY id")
    stored = [(arn, json.loads(transitions)) for arn, transitions in rows]
    assert stored == [(arn, [[step, n, old, new, at]]) for arn, step, n, old, new, at in OLD_EVENTS]
    assert migrate(db_url) == [5, 6]
    assert migrate(db_url) == []


def test_the_jobs_of_an_older_databases_attempts_are_found_by_arn(db_url: str) -> None:
    migrate(db_url, up_to=4)
    train = "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-abc-train-x1"
    rows = [
        ("arn:e1", "Train", 1, json.dumps({"kind": "job", "name": "pipelines-abc-Train-X1", "arn": train})),
        ("arn:e1", "Model", 1, json.dumps({"kind": "job", "name": "m", "arn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"})),
        ("arn:e1", "Check", 1, None),
        # A later execution's cache hit: a copy of Train's job, which stays listed once.
        ("arn:e2", "Train", 1, json.dumps({"kind": "job", "name": "pipelines-abc-Train-X1", "arn": train})),
    ]  # fmt: skip
    query(
        db_url,
        "INSERT INTO attempts (execution_arn, name, attempt, manual_retry, status, started, job) "
        "VALUES (?, ?, ?, 0, 'Succeeded', ?, ?)",
        [(e, n, a, 2.0 if e == "arn:e2" else 1.0, j) for e, n, a, j in rows],
    )

    assert migrate(db_url, up_to=5) == [5]

    found = query(
        db_url, "SELECT execution_arn, name, job_scope, job_arn FROM attempts ORDER BY 2, 1"
    )
    assert found == [
        ("arn:e1", "Check", None, None),
        ("arn:e1", "Model", None, None),  # not a listed job kind
        ("arn:e1", "Train", "arn:aws:sagemaker:us-east-1:123456789012:training-job", train),
        ("arn:e2", "Train", None, None),
    ]


def test_a_job_is_found_by_its_arn_through_the_partial_index(tmp_path: Any) -> None:
    # An ORDER BY here once led SQLite to walk the scope's jobs by start time instead: 105 ms
    # per DescribeProcessingJob at a million jobs (bench/scale.py).
    path = str(tmp_path / "plan.db")
    migrate(path)
    sql = re.sub(r":[a-z_0-9]+", "'x'", Queries("sqlite").sql("job_by_arn"))
    plan = query(path, "EXPLAIN QUERY PLAN " + sql)
    assert any("attempts_job_name (job_scope=? AND job_arn=?)" in str(step) for step in plan), plan


def test_jobs_are_listed_newest_first_through_the_partial_index(tmp_path: Any) -> None:
    path = str(tmp_path / "plan.db")
    migrate(path)
    sql = Queries("sqlite").sql("jobs_by_created_desc")
    plan = query(path, "EXPLAIN QUERY PLAN " + re.sub(r":[a-z_0-9]+", "NULL", sql).replace(
        "a.job_scope = NULL", "a.job_scope = 's'"))  # fmt: skip
    assert any("attempts_job_created" in str(step) for step in plan), plan
    assert not any("TEMP B-TREE" in str(step) for step in plan), plan  # no sort step


def test_running_executions_are_counted_through_the_partial_index(tmp_path: Any) -> None:
    path = str(tmp_path / "plan.db")
    migrate(path)
    sql = Queries("sqlite").sql("running_count").replace(":account", "'1'")
    plan = query(path, "EXPLAIN QUERY PLAN " + sql.replace(":region", "'r'"))
    assert any("executions_active" in str(step) for step in plan), plan
