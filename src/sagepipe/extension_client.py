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


def signed_get(url: str) -> urllib.request.Request:
    """A GET of `url`, signed (SigV4, service `sagemaker`) with the AWS credentials the
    environment or profile gives, if any: a server run with --credentials verifies it, an
    open one ignores it."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        return urllib.request.Request(url)
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(
        credentials, "sagemaker", session.get_config_variable("region") or "us-east-1"
    ).add_auth(request)
    return urllib.request.Request(url, headers=dict(request.headers.items()))


def get_json(endpoint: str, path: str, not_found: str | None = None) -> dict[str, Any]:
    """The JSON answer of GET `path`; `not_found` is the problem to report for a
    ResourceNotFound answer (default: the server's own message)."""
    url = endpoint.rstrip("/") + path
    try:
        with urllib.request.urlopen(signed_get(url), timeout=30) as response:
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
