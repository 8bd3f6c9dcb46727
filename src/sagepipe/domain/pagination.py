"""Opaque NextTokens bound to the query that minted them (docs/behaviour.md §6: a token used with other
filters is a ValidationException). The token carries the keyset position, not an offset, so
pages stay stable while rows are inserted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from sagepipe.errors import ValidationError

# Tokens are not secrets; the MAC only makes tampering and cross-query reuse detectable.
_KEY = b"sagepipe-next-token"
DEFAULT_PAGE = 50
MAX_PAGE = 100


def query_fingerprint(operation: str, scope: str, filters: dict[str, Any]) -> str:
    text = json.dumps([operation, scope, filters], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(fingerprint: str, position: Any) -> str:
    body = json.dumps([fingerprint, position], separators=(",", ":")).encode()
    mac = hmac.new(_KEY, body, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_token(token: str | None, fingerprint: str) -> Any:
    """The position stored in `token`, or None for the first page (no token, or "")."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, body = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, hmac.new(_KEY, body, hashlib.sha256).digest()[:8]):
            raise ValueError("bad mac")
        minted_for, position = json.loads(body)
    except ValueError:
        raise ValidationError("Invalid pagination token: the NextToken is malformed.") from None
    if minted_for != fingerprint:
        raise ValidationError(
            "Invalid pagination token: the NextToken was issued for a request with different "
            "parameters. Repeat the original request's filters, or omit NextToken to start over."
        )
    return position


def page_size(max_results: int | None) -> int:
    return DEFAULT_PAGE if max_results is None else min(max_results, MAX_PAGE)


def page(
    member: str,
    rows: list[dict[str, Any]],
    limit: int,
    fingerprint: str,
    summary: Callable[[dict[str, Any]], dict[str, Any]],
    position: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """One page of a List* answer from `limit + 1` rows: the extra row says a next page
    exists, and the last row shown is where it starts."""
    result: dict[str, Any] = {member: [summary(row) for row in rows[:limit]]}
    if len(rows) > limit:
        result["NextToken"] = encode_token(fingerprint, position(rows[limit - 1]))
    return result
