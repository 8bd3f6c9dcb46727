"""The console's sign-in under --credentials (docs/behaviour.md §15): the access key and secret
are exchanged once for a session cookie, so the browser never keeps the secret.

The cookie is `<access key>.<expiry>.<HMAC-SHA256 of both, keyed by the key's secret>`: any
server that reads the same credentials file verifies it, nothing is stored, and a changed
secret ends every session of its key. It is sent only with the console's own requests
(SameSite=Strict, HttpOnly) and only counts when the request also carries the
`X-Sagepipe-Console` header, which a page on another site cannot add without a CORS preflight
that sagepipe never grants."""

from __future__ import annotations

import hashlib
import hmac
import time
from http.cookies import CookieError, SimpleCookie

from sagepipe.gateway.sigv4 import Caller, Secret

COOKIE = "sagepipe_console"
HEADER = "x-sagepipe-console"
LIFETIME_S = 12 * 3600
REGION = "us-east-1"  # the console works in one region: the SDKs' usual default


def issue(access_key: str, secret: Secret, now: float | None = None) -> str:
    expiry = int((now if now is not None else time.time()) + LIFETIME_S)
    return f"{access_key}.{expiry}.{_mac(access_key, expiry, secret)}"


def set_cookie(token: str) -> str:
    return f"{COOKIE}={token}; Path=/; Max-Age={LIFETIME_S}; HttpOnly; SameSite=Strict"


def clear_cookie() -> str:
    return f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"


def caller_of(
    headers: dict[str, str], credentials: dict[str, Secret], now: float | None = None
) -> Caller | None:
    """The caller a console request's session cookie names, or None when it carries no valid
    one (or lacks the console header)."""
    if headers.get(HEADER) != "1":
        return None
    token = _cookie(headers.get("cookie", ""))
    if token is None:
        return None
    access_key, _, rest = token.partition(".")
    expiry_text, _, mac = rest.partition(".")
    secret = credentials.get(access_key)
    if secret is None or not expiry_text.isdigit():
        return None
    expiry = int(expiry_text)
    if expiry < (now if now is not None else time.time()):
        return None
    if not hmac.compare_digest(mac, _mac(access_key, expiry, secret)):
        return None
    return Caller(access_key, secret.account, REGION)


def _mac(access_key: str, expiry: int, secret: Secret) -> str:
    message = f"sagepipe-console-session\n{access_key}\n{expiry}".encode()
    return hmac.new(secret.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _cookie(header: str) -> str | None:
    try:
        jar: SimpleCookie = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None
