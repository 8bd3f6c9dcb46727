"""Every transition is recorded as an event (docs/behaviour.md §4), read back from the database itself on
both backends: one row per committed change, its transitions in order."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from typing import Any

from tests.support.pipelines import create, processing
from tests.support.server import ServerProcess
from tests.support.steps import start, wait_done


def stored_events(server_args: list[str], execution_arn: str) -> list[list[list[Any]]]:
    sql = "SELECT transitions FROM execution_events WHERE execution_arn = ? ORDER BY id"
    flag, value = server_args[0], server_args[1]
    if flag == "--db":
        import psycopg

        with psycopg.connect(value) as conn:
            rows = conn.execute(sql.replace("?", "%s"), (execution_arn,)).fetchall()
    else:
        path = os.path.join(value, "sagepipe.db")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            rows = conn.execute(sql, (execution_arn,)).fetchall()
    return [json.loads(row[0]) for row in rows]


def test_a_run_records_each_transition_once_in_order(
    server: ServerProcess, server_args: list[str], sm: Any, name: str
) -> None:
    create(sm, name, [processing("Only")])
    arn = start(sm, name)
    assert wait_done(sm, arn)["PipelineExecutionStatus"] == "Succeeded"

    rows = stored_events(server_args, arn)
    # The start is one commit; the step, which has nothing to wait for, starts and ends in
    # the engine's next one, together with the execution's end.
    assert len(rows) == 2, rows
    transitions = [t for row in rows for t in row]
    assert [t[:4] for t in transitions] == [
        [None, None, None, "Executing"],
        ["Only", 1, None, "Starting"],
        ["Only", 1, "Starting", "Executing"],
        ["Only", 1, "Executing", "Succeeded"],
        [None, None, "Executing", "Succeeded"],
    ]
    times = [t[4] for t in transitions]
    assert times == sorted(times), times
