"""The engine: which executions this process drives, and their leases.

An execution is driven by exactly one process at a time: the one whose lease is current.
Each driver's writes are fenced by the lease epoch, so a process that lost its lease (paused,
partitioned, presumed dead) cannot write over its successor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid

from sagepipe.domain.definition import parse_definition
from sagepipe.engine.driver import Driver
from sagepipe.engine.notifier import CallbackNotifier
from sagepipe.engine.records import ExecutionRecord, StepRecord
from sagepipe.providers.selective import selected_steps
from sagepipe.runners.simulate import SimulateRunner
from sagepipe.store.db import Database, Tx

log = logging.getLogger("sagepipe.engine")


class Engine:
    def __init__(
        self,
        db: Database,
        runner: SimulateRunner,
        notifier: CallbackNotifier,
        lease_seconds: float,
    ) -> None:
        self.db = db
        self.runner = runner
        self.notifier = notifier
        self.lease_seconds = lease_seconds
        self.owner = f"sagepipe-{uuid.uuid4().hex[:12]}"
        self.drivers: dict[str, Driver] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._lease_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, *, sole_owner: bool) -> None:
        """Resume running executions. `sole_owner`: no other process shares this database
        (the embedded SQLite file), so every running execution is ours at once."""
        query = "executions_claim_all" if sole_owner else "executions_claim_expired"
        claimed = await self._claim(query)
        for arn in claimed:
            await self.drive(arn)
        if claimed:
            log.info("resumed %d running execution(s)", len(claimed))
        self._lease_task = asyncio.get_running_loop().create_task(self._lease_loop())

    async def stop(self) -> None:
        if self._lease_task:
            self._lease_task.cancel()
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def lease_until(self) -> float:
        return time.time() + self.lease_seconds

    async def _claim(self, query: str) -> list[str]:
        rows = await self.db.run(
            lambda tx: tx.all(
                query, owner=self.owner, lease_until=self.lease_until, now=time.time()
            )
        )
        return [row["arn"] for row in rows]

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.db.run(
                    lambda tx: tx.exec(
                        "executions_heartbeat", owner=self.owner, lease_until=self.lease_until
                    )
                )
                for arn in await self._claim("executions_claim_expired"):
                    log.info("took over %s from a process whose lease expired", arn)
                    await self.drive(arn)
            except Exception:
                log.exception("lease upkeep failed; trying again")

    # ------------------------------------------------------------------ drivers
    async def drive(self, arn: str) -> None:
        """Start driving an execution this process has just claimed."""
        old = self.tasks.get(arn)
        if old is not None and not old.done():
            old.cancel()
        execution, steps = await self.db.run(lambda tx: _load(tx, arn), readonly=True)
        if execution is None:
            return
        definition = parse_definition(execution.definition_text)
        driver = Driver(self, execution, definition, steps)
        self.drivers[arn] = driver
        task = asyncio.get_running_loop().create_task(self._run(driver))
        self.tasks[arn] = task

    async def _run(self, driver: Driver) -> None:
        arn = driver.execution.arn
        try:
            await driver.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # The execution keeps its lease; the next claim after expiry retries it.
            log.exception("driver for %s failed", arn)
        finally:
            if self.drivers.get(arn) is driver:
                self.drivers.pop(arn, None)
                self.tasks.pop(arn, None)

    def notify(self, arn: str) -> None:
        driver = self.drivers.get(arn)
        if driver is not None:
            driver.notify()

    def execution_ended(self, arn: str) -> None:
        log.debug("execution %s ended", arn)

    def running(self) -> int:
        return len(self.drivers)


def _load(tx: Tx, arn: str) -> tuple[ExecutionRecord | None, dict[str, StepRecord]]:
    row = tx.one("execution_for_driver", arn=arn)
    if row is None:
        return None, {}
    execution = ExecutionRecord(
        arn=row["arn"],
        exec_id=row["exec_id"],
        account=row["account"],
        region=row["region"],
        pipeline_arn=row["pipeline_arn"],
        status=row["status"],
        parallelism=row["parallelism"],
        pipeline_parallelism=row["pipeline_parallelism"],
        retry_count=row["retry_count"],
        epoch=row["epoch"],
        created=row["created"],
        definition_text=row["definition"],
        parameters=json.loads(row["parameters"]),
        failure_reason=row["failure_reason"],
        fail_step=row["fail_step"],
        selected=selected_steps(json.loads(row["selective"]) if row["selective"] else None),
    )
    steps = {
        r["name"]: StepRecord.from_row(r) for r in tx.all("steps_for_execution", execution_arn=arn)
    }
    return execution, steps
