"""What the `sagepipe` commands share to talk to a running server's extension API
(docs/behaviour.md §9): GET a route as JSON, and problems said in one line."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class Problem(Exception):
    """Something the user can fix; printed as one line, no traceback."""


def unreachable(url: str) -> Problem:
    return Problem(
        f"cannot reach sagepipe at {url}. Is `sagepipe serve` running there? Point to it with "
        "--endpoint-url or SAGEPIPE_ENDPOINT_URL."
    )


def get_json(endpoint: str, path: str, not_found: str | None = None) -> dict[str, Any]:
    """The JSON answer of GET `path`; `not_found` is the problem to report for a
    ResourceNotFound answer (default: the server's own message)."""
    try:
        with urllib.request.urlopen(endpoint.rstrip("/") + path, timeout=30) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read())
        except ValueError:
            answer = {}
        if not_found and answer.get("__type") == "ResourceNotFound":
            raise Problem(not_found) from None
        raise Problem(f"{endpoint} answered {error.code}: {answer.get('Message', '')}") from None
    except OSError:
        raise unreachable(endpoint) from None
