"""ClientRequestToken idempotency (docs/behaviour.md §1, §5): the token is recorded together with the
request fingerprint and the response, in the same transaction as the effect. A replay of the
same request returns the recorded response; the same token with another request conflicts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sagepipe.errors import ConflictError
from sagepipe.providers.context import RequestContext
from sagepipe.store.db import Database, Tx


def fingerprint(request: dict[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded(
    tx: Tx, ctx: RequestContext, operation: str, token: str | None, request: dict[str, Any]
) -> dict[str, Any] | None:
    """The recorded response for a replay of this request, or None if the token is new."""
    if token is None:
        return None
    row = tx.one(
        "token_get", account=ctx.account, region=ctx.region, operation=operation, token=token
    )
    if row is None:
        return None
    if row["fingerprint"] != fingerprint(request):
        raise ConflictError(
            f"ClientRequestToken '{token}' was already used for a different {operation} "
            "request. Use a new token for a new request."
        )
    result: dict[str, Any] = json.loads(row["response"])
    return result


class TokenRace(Exception):
    """Raised inside a transaction that lost a race for its idempotency token; the caller
    runs the transaction again, and then replays the winner's response."""


def once(
    tx: Tx,
    ctx: RequestContext,
    operation: str,
    token: str | None,
    request: dict[str, Any],
    effect: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """Run `effect` unless this token already did; record its response with the token.

    Where transactions run concurrently (PostgreSQL), the token row is claimed before the
    effect runs, so a concurrent request with the same token waits on the unique key instead
    of racing the effect (and the effect's checks)."""
    previous = recorded(tx, ctx, operation, token, request)
    if previous is not None:
        return previous
    if token is None:
        return effect()
    keys = {"account": ctx.account, "region": ctx.region, "operation": operation, "token": token}
    if tx.serialized:
        # Nobody can take the token between the lookup above and this transaction's end: it
        # is written once, with its response.
        response = effect()
        tx.exec(
            "token_put", **keys, fingerprint=fingerprint(request),
            response=json.dumps(response), now=ctx.now,
        )  # fmt: skip
        return response
    if not tx.exec("token_put", **keys, fingerprint=fingerprint(request), response="", now=ctx.now):
        raise TokenRace()
    response = effect()
    tx.exec("token_set_response", **keys, response=json.dumps(response))
    return response


async def run_once(
    db: Database,
    ctx: RequestContext,
    operation: str,
    token: str | None,
    effect: Callable[[Tx], dict[str, Any]],
    *,
    slow: bool = False,
) -> dict[str, Any]:
    """Run `effect(tx)` in one transaction under the request's idempotency token (`slow`: as
    `Database.run`)."""

    def transaction(tx: Tx) -> dict[str, Any]:
        return once(tx, ctx, operation, token, ctx.request, lambda: effect(tx))

    while True:
        try:
            return await db.run(transaction, slow=slow)
        except TokenRace:
            continue
