"""Callback messages to the step's SQS queue (SPEC §6), when an SQS endpoint is configured.
The message is also kept with the callback token, so nothing depends on the queue."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger("sagepipe.callbacks")


class CallbackNotifier:
    def __init__(self, sqs_endpoint_url: str | None) -> None:
        self.sqs_endpoint_url = sqs_endpoint_url
        self._client: Any = None

    def send(self, queue_url: str | None, message: dict[str, Any]) -> None:
        if not self.sqs_endpoint_url or not queue_url:
            return
        asyncio.get_running_loop().run_in_executor(None, self._send, queue_url, message)

    def _send(self, queue_url: str, message: dict[str, Any]) -> None:
        try:
            if self._client is None:
                import botocore.session

                region = queue_url.split(".")[1] if "amazonaws.com" in queue_url else "us-east-1"
                self._client = botocore.session.get_session().create_client(
                    "sqs", region_name=region, endpoint_url=self.sqs_endpoint_url
                )
            self._client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))
        except Exception as exc:  # the token stays valid; the answer can still come
            log.warning("could not send the callback message to %s: %s", queue_url, exc)
