"""Callback messages to the step's SQS queue (docs/behaviour.md §6), when an SQS endpoint is configured.

Delivered at least once, through an outbox: a message is written in the same transaction as
the step state it announces, sent right after that commit, and deleted once SQS has taken it.
One that could not go (SQS unreachable, the queue missing, the server killed in between) is
sent again, with backoff, by whichever server finds it due. Without an SQS endpoint nothing is
written; the token stays readable in the step's metadata either way."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sagepipe.engine.batch import Batch
from sagepipe.store.db import Database, Tx

log = logging.getLogger("sagepipe.callbacks")

BATCH = 50  # due messages claimed per round
MAX_BACKOFF = 300.0
_PLACEHOLDER_KEYS = {"aws_access_key_id": "sagepipe", "aws_secret_access_key": "sagepipe"}


class CallbackNotifier:
    def __init__(self, db: Database, sqs_endpoint_url: str | None, grace: float) -> None:
        """`grace`: how long the sender has before a message counts as undelivered; later
        attempts wait twice as long each time, up to MAX_BACKOFF."""
        self.db = db
        self.sqs_endpoint_url = sqs_endpoint_url
        self.grace = grace
        self._client: Any = None
        self._client_lock = threading.Lock()  # sends run on executor threads
        self._sending: set[asyncio.Task[bool]] = set()
        self._round: asyncio.Task[None] | None = None

    def post(
        self, batch: Batch, queue_url: str | None, message: dict[str, Any], now: float
    ) -> None:
        """Record `message` in the batch's transaction (a driver's: its statements get the
        execution's ARN) and send it once that has committed."""
        if not self.sqs_endpoint_url or not queue_url:
            return
        key = {"token": str(message["token"]), "kind": str(message["status"])}
        text = json.dumps(message)
        batch.statements.append(
            (
                "outbox_insert",
                {**key, "queue_url": queue_url, "message": text,
                 "next_attempt": now + self.grace},
            )
        )  # fmt: skip
        batch.after_commit.append(self._sender(key, queue_url, text))

    def _sender(self, key: dict[str, str], queue_url: str, text: str) -> Callable[[], None]:
        def send() -> None:
            task = asyncio.get_running_loop().create_task(self._deliver(key, queue_url, text))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

        return send

    def resend_due(self) -> None:
        """Start sending the messages whose time has come, unless the previous round is still
        at it: SQS may be slow to answer, and the caller (the lease loop) must not wait."""
        if not self.sqs_endpoint_url or (self._round is not None and not self._round.done()):
            return
        self._round = asyncio.get_running_loop().create_task(self._resend_round())

    async def _resend_round(self) -> None:
        now = time.time()
        try:
            claimed = await self.db.run(lambda tx: self._claim_due(tx, now))
        except Exception:
            log.exception("could not read the callback messages due; trying again later")
            return
        sent = 0
        for key, queue_url, text in claimed:
            sent += await self._deliver(key, queue_url, text)
        if sent:
            log.info("sent %d callback message(s) that had not reached SQS before", sent)

    def _claim_due(self, tx: Tx, now: float) -> list[tuple[dict[str, str], str, str]]:
        """The due messages this server will send. Claiming pushes a message's next attempt
        out, so other servers leave it alone meanwhile; one whose callback was answered or
        stopped already has nothing left to say and is dropped."""
        claimed = []
        for row in tx.all("outbox_due", now=now, limit=BATCH):
            key = {"token": row["token"], "kind": row["kind"]}
            if row["kind"] == "Executing" and row["callback_status"] != "Waiting":
                tx.exec("outbox_delete", **key)
                continue
            backoff = min(MAX_BACKOFF, self.grace * 2 ** (row["attempts"] + 1))
            if tx.exec("outbox_claim", **key, next_attempt=now + backoff, seen=row["next_attempt"]):
                claimed.append((key, row["queue_url"], row["message"]))
        return claimed

    async def _deliver(self, key: dict[str, str], queue_url: str, text: str) -> bool:
        loop = asyncio.get_running_loop()
        if not await loop.run_in_executor(None, self._send, queue_url, text):
            return False
        try:
            await self.db.run(lambda tx: tx.exec("outbox_delete", **key))
        except Exception:  # sent: at worst it goes once more when it comes due
            log.exception("could not clear the sent callback message %s", key)
        return True

    def _sqs(self, queue_url: str) -> Any:
        with self._client_lock:
            if self._client is None:
                import botocore.config
                import botocore.session

                region = queue_url.split(".")[1] if "amazonaws.com" in queue_url else "us-east-1"
                session = botocore.session.get_session()
                # The environment's credentials if it has any; a local SQS accepts any others.
                keys = {} if session.get_credentials() else _PLACEHOLDER_KEYS
                self._client = session.create_client(
                    "sqs", region_name=region, endpoint_url=self.sqs_endpoint_url, **keys,
                    config=botocore.config.Config(  # the outbox retries; no long stalls here
                        connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}
                    ),
                )  # fmt: skip
            return self._client

    def _send(self, queue_url: str, text: str) -> bool:
        try:
            self._sqs(queue_url).send_message(QueueUrl=queue_url, MessageBody=text)
            return True
        except Exception as exc:  # kept in the outbox: sent again when it comes due
            log.warning(
                "could not send the callback message to %s (will try again): %s", queue_url, exc
            )
            return False

    async def close(self) -> None:
        """Stop sending; what is unsent stays in the outbox for the next server."""
        for task in [*self._sending, self._round]:
            if task is not None:
                task.cancel()
