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
from collections.abc import Awaitable, Callable, Sequence

from sagepipe.domain.definition import Definition, stored_definition
from sagepipe.domain.records import ExecutionRecord, StepRecord
from sagepipe.domain.selection import selected_steps
from sagepipe.engine.driver import Driver, Services
from sagepipe.store.db import Database, Tx

log = logging.getLogger("sagepipe.engine")


class Engine:
    def __init__(
        self,
        services: Services,
        lease_seconds: float,
        upkeep: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        """`upkeep`: what else to refresh at every lease round (the shared fault rules)."""
        self.services = services
        self.db: Database = services.db
        self.notifier = services.notifier
        self.lease_seconds = lease_seconds
        self.upkeep = upkeep
        self.owner = f"sagepipe-{uuid.uuid4().hex[:12]}"
        self.drivers: dict[str, Driver] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._lease_task: asyncio.Task[None] | None = None
        self._taking: set[str] = set()  # executions a drive() call is loading right now

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
        self.notifier.resend_due()
        self._lease_task = asyncio.get_running_loop().create_task(self._lease_loop())

    async def stop(self) -> None:
        if self._lease_task:
            self._lease_task.cancel()
        await self.notifier.close()
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self.services.runners.close()
        # Hand our executions over at once instead of making a successor wait for expiry.
        with contextlib.suppress(Exception):
            await self.db.run(lambda tx: tx.exec("executions_release", owner=self.owner))

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
                for arn in await self._owned_without_driver():
                    await self.drive(arn)
                for refresh in self.upkeep:
                    await refresh()
                self.notifier.resend_due()
            except Exception:
                log.exception("lease upkeep failed; trying again")

    async def _owned_without_driver(self) -> list[str]:
        rows = await self.db.run(
            lambda tx: tx.all("executions_owned", owner=self.owner), readonly=True
        )
        busy = self.drivers.keys() | self._taking
        return [row["arn"] for row in rows if row["arn"] not in busy]

    # ------------------------------------------------------------------ drivers
    async def drive(self, arn: str) -> None:
        """Start a new driver for an execution this process holds the lease of.

        Taking the execution bumps its epoch, so anything a previous driver of it still had
        in flight is fenced out: two drivers can never both write."""
        old = self.tasks.get(arn)
        if old is not None and not old.done():
            old.cancel()
        self._taking.add(arn)
        try:
            execution, steps = await self.db.run(
                lambda tx: _take(tx, arn, self.owner, self.lease_until)
            )
        finally:
            self._taking.discard(arn)
        if execution is None:
            return  # gone, ended, or another process holds its lease
        definition = stored_definition(execution.definition_text)
        self._launch(Driver(self.services, execution, definition, steps))

    async def adopt(self, execution: ExecutionRecord, definition: Definition) -> None:
        """Drive an execution this process has just created (and leased) in a committed
        transaction: nothing to load, it has no steps yet."""
        self._launch(Driver(self.services, execution, definition, {}, reload=False))

    def _launch(self, driver: Driver) -> None:
        arn = driver.execution.arn
        self.drivers[arn] = driver
        self.tasks[arn] = asyncio.get_running_loop().create_task(self._run(driver))

    async def _run(self, driver: Driver) -> None:
        arn = driver.execution.arn
        failed = False
        try:
            await driver.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("driver for %s failed; resuming it from the store", arn)
            failed = True
        finally:
            if self.drivers.get(arn) is driver:
                self.drivers.pop(arn, None)
                self.tasks.pop(arn, None)
        if failed:
            # Everything the driver decided is in the store; the lease loop finds the execution
            # without a driver and starts a new one from there.
            log.info("%s will resume at the next lease round", arn)

    def notify(self, arn: str) -> None:
        driver = self.drivers.get(arn)
        if driver is not None:
            driver.notify()

    def running(self) -> int:
        return len(self.drivers)


def _take(
    tx: Tx, arn: str, owner: str, lease_until: float
) -> tuple[ExecutionRecord | None, dict[str, StepRecord]]:
    if not tx.exec("execution_take", arn=arn, owner=owner, lease_until=lease_until):
        return None, {}
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
