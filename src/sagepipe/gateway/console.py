"""The console at /console/ (docs/behaviour.md §15): its page and assets, shipped inside the
package (gateway/console_assets/), and its sign-in under --credentials
(gateway/console_session.py). The page reads through /_sagepipe/console/... and acts through
the SageMaker API, like any other client."""

from __future__ import annotations

import hmac
import json
from functools import cache
from importlib import resources
from typing import Any

from sagepipe import __version__
from sagepipe.errors import AccessDenied, SerializationError, UnknownOperation
from sagepipe.gateway import console_session
from sagepipe.gateway.awsjson import Request, Response
from sagepipe.gateway.sigv4 import Secret

ASSETS = {
    "console.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
}
# The page loads nothing but its own assets, and no other site may frame it.
HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("sagepipe.gateway").joinpath("console_assets", name).read_bytes()


class ConsoleApp:
    def __init__(self, credentials: dict[str, Secret] | None) -> None:
        self.credentials = credentials  # None: open, like the API

    async def __call__(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/console" and method == "GET":
            return Response.raw(301, b"", b"text/plain", {"location": "/console/"})
        if path == "/console/" and method == "GET":
            page = _asset("index.html").replace(b"{{version}}", __version__.encode())
            return Response.raw(200, page, b"text/html; charset=utf-8", dict(HEADERS))
        name = path.removeprefix("/console/assets/")
        if name in ASSETS and method == "GET":
            return Response.raw(200, _asset(name), ASSETS[name], {
                **HEADERS, "cache-control": "max-age=3600, stale-while-revalidate=60"})  # fmt: skip
        if path == "/console/session":
            return self._session(request)
        raise UnknownOperation(
            f"{method} {path} is not a console route: open /console/ in a browser."
        )

    def _session(self, request: Request) -> Response:
        if request.method == "GET":
            caller = (
                console_session.caller_of(request.headers, self.credentials)
                if self.credentials is not None
                else None
            )
            return Response(200, {
                "open": self.credentials is None, "signed_in": caller is not None,
                "access_key": caller.access_key if caller else None,
                "account": caller.account if caller else None,
            })  # fmt: skip
        # Only the console's own script sends this header (a form on another site cannot).
        if request.headers.get(console_session.HEADER) != "1":
            raise AccessDenied("Sign in from the console page.")
        if request.method == "DELETE":
            return Response(200, {"signed_in": False},
                            {"set-cookie": console_session.clear_cookie()})  # fmt: skip
        if request.method != "POST":
            raise UnknownOperation(f"{request.method} is not allowed on /console/session.")
        if self.credentials is None:
            return Response(200, {"open": True, "signed_in": False})
        access_key, secret_key = _sign_in_form(request.body)
        secret = self.credentials.get(access_key)
        # One answer for an unknown key and a wrong secret, compared in constant time.
        expected = secret.secret_key if secret else "\0" * len(secret_key)
        if secret is None or not hmac.compare_digest(expected.encode(), secret_key.encode()):
            raise AccessDenied(
                "The access key and secret do not match a credential of this server."
            )
        token = console_session.issue(access_key, secret)
        return Response(
            200, {"signed_in": True, "access_key": access_key, "account": secret.account},
            {"set-cookie": console_session.set_cookie(token)},
        )  # fmt: skip


def _sign_in_form(body: bytes) -> tuple[str, str]:
    try:
        form: Any = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise SerializationError('Send {"access_key": ..., "secret_key": ...}.') from None
    if not isinstance(form, dict):
        raise SerializationError('Send {"access_key": ..., "secret_key": ...}.')
    access_key, secret_key = form.get("access_key"), form.get("secret_key")
    if not isinstance(access_key, str) or not isinstance(secret_key, str):
        raise SerializationError('Send {"access_key": ..., "secret_key": ...}.')
    if not access_key or not secret_key or len(access_key) > 128 or len(secret_key) > 256:
        raise AccessDenied("The access key and secret do not match a credential of this server.")
    return access_key, secret_key
