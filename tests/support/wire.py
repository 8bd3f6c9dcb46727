"""Raw awsJson1.1 requests, below botocore's client-side validation.

`call` posts a body to a sagepipe server with `http.client`, SigV4-signed by botocore's own
signer (or unsigned), and returns the status, lower-cased headers and decoded body."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

JSON_TYPE = "application/x-amz-json-1.1"


@dataclass
class WireResponse:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def code(self) -> str | None:
        body = self.json
        return body.get("__type") if isinstance(body, dict) else None

    @property
    def message(self) -> str:
        return str(self.json.get("Message", ""))


def call(
    url: str,
    target: str | None,
    body: Any = None,
    *,
    sign: bool = True,
    access_key: str = "AKIDTEST",
    region: str = "us-east-1",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/",
    timeout: float = 30,
) -> WireResponse:
    """One request. `body` is JSON-encoded unless `raw` bytes are given; `target` is the
    operation name (`SageMaker.` is prefixed unless it already has a dot)."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    sent = {"Content-Type": JSON_TYPE}
    if target is not None:
        sent["X-Amz-Target"] = target if "." in target else "SageMaker." + target
    sent.update(headers or {})
    if sign:
        request = AWSRequest(method=method, url=url + path, data=data, headers=sent)
        SigV4Auth(Credentials(access_key, "secret"), "sagemaker", region).add_auth(request)
        sent = dict(request.headers.items())
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        content = response.read()
        got = {k.lower(): v for k, v in response.getheaders()}
        return WireResponse(response.status, got, content)
    finally:
        conn.close()
