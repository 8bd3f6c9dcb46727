"""Who is calling (docs/behaviour.md §3, §14).

Open mode (no --credentials): the access key in the Authorization header picks the account
(`--accounts`), the credential scope's region the region; nothing is checked.

With --credentials every request's SigV4 signature is verified against the secret of its
access key, as AWS computes it: botocore's own signer builds the canonical request (over the
headers the client says it signed), the string to sign and the signature, and the two
signatures are compared in constant time. Header and query-string (presigned) forms."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from sagepipe.errors import (
    AccessDenied,
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)

_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)
_SCOPE = re.compile(
    r"(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)
_ACCOUNT = re.compile(r"[0-9]{12}")
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600  # a presigned request's longest life, as AWS allows
ALGORITHM = "AWS4-HMAC-SHA256"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check "
    "your AWS Secret Access Key and signing method. Consult the service documentation for "
    "details."
)


@dataclass(frozen=True)
class Caller:
    access_key: str
    account: str
    region: str


@dataclass(frozen=True)
class Secret:
    secret_key: str
    account: str


class CredentialsFileError(Exception):
    """--credentials names a file sagepipe cannot use; the message says why."""


def load_credentials(path: str) -> dict[str, Secret]:
    """The access keys of a --credentials file: {"credentials": [{"access_key", "secret_key",
    "account"}, ...]}."""
    try:
        document = json.loads(Path(path).read_text())
        entries = document["credentials"]
        assert isinstance(entries, list) and entries
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise CredentialsFileError(
            f"--credentials {path}: expected a readable JSON file "
            '{"credentials": [{"access_key": "...", "secret_key": "...", "account": '
            '"<12 digits>"}, ...]} with at least one entry.'
        ) from None
    found: dict[str, Secret] = {}
    for number, entry in enumerate(entries, 1):
        key = entry.get("access_key") if isinstance(entry, dict) else None
        secret = entry.get("secret_key") if isinstance(entry, dict) else None
        account = str(entry.get("account", "")) if isinstance(entry, dict) else ""
        if not (isinstance(key, str) and key and isinstance(secret, str) and secret):
            raise CredentialsFileError(
                f"--credentials {path}: entry {number} needs a non-empty access_key and secret_key."
            )
        if not _ACCOUNT.fullmatch(account):
            raise CredentialsFileError(
                f"--credentials {path}: entry {number} ({key}) needs an account of 12 digits."
            )
        if key in found:
            raise CredentialsFileError(f"--credentials {path}: access key {key} is listed twice.")
        found[key] = Secret(secret, account)
    return found


def identify(authorization: str | None, accounts: dict[str, str]) -> Caller:
    """Open mode: `accounts` maps access keys to account ids; unknown keys use the default
    account."""
    if not authorization:
        return Caller("anonymous", DEFAULT_ACCOUNT, DEFAULT_REGION)
    if not authorization.startswith(ALGORITHM):
        raise AccessDenied(
            "Unsupported Authorization header: sign requests with AWS Signature Version 4."
        )
    match = _CREDENTIAL.search(authorization)
    if match is None:
        raise AccessDenied(
            "The Authorization header has no valid Credential=<key>/<date>/<region>/"
            "<service>/aws4_request scope."
        )
    key = match["key"]
    return Caller(key, accounts.get(key, DEFAULT_ACCOUNT), match["region"])


@dataclass(frozen=True)
class SignedRequest:
    """What a request says about its signature, from its header or its query string."""

    access_key: str
    date: str  # the credential scope's yyyymmdd
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    timestamp: str  # X-Amz-Date, yyyymmddThhmmssZ
    query: str  # the canonical query's source: the raw query, less X-Amz-Signature
    expires: int | None  # presigned: seconds from X-Amz-Date


class _Verifier(SigV4Auth):
    """botocore's signer over the headers the request names as signed, not those it has."""

    def __init__(
        self, secret: str, signed: SignedRequest, headers: dict[str, str], body: bytes
    ) -> None:
        super().__init__(Credentials(signed.access_key, secret), signed.service, signed.region)
        self._signed = signed
        self._headers = headers
        self._body = body

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        chosen = HTTPHeaders()
        for name in self._signed.signed_headers:
            chosen[name] = self._headers.get(name, "")
        return chosen

    def payload(self, request: AWSRequest) -> str:
        return hashlib.sha256(self._body).hexdigest()

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        # botocore's arithmetic, with the day's signing key kept, as AWS suggests doing.
        signed = self._signed
        key = _signing_key(self.credentials.secret_key, signed.date, signed.region, signed.service)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_header(authorization: str) -> dict[str, str]:
    if not authorization.startswith(ALGORITHM + " "):
        raise IncompleteSignature(
            f"Authorization header must use {ALGORITHM} (AWS Signature Version 4)."
        )
    fields: dict[str, str] = {}
    for part in authorization[len(ALGORITHM) + 1 :].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not fields.get(n)]
    if missing:
        raise IncompleteSignature(
            " ".join(f"Authorization header requires '{n}' parameter." for n in missing)
            + f" Authorization={authorization[:200]}"
        )
    return fields


def signed_request(headers: dict[str, str], raw_query: str) -> SignedRequest:
    """The signature a request carries; MissingAuthenticationToken if it has none."""
    params = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
    if "X-Amz-Signature" in params or "X-Amz-Algorithm" in params:
        get = {k: v[0] for k, v in params.items()}
        fields = {"Credential": get.get("X-Amz-Credential", ""),
                  "SignedHeaders": get.get("X-Amz-SignedHeaders", ""),
                  "Signature": get.get("X-Amz-Signature", "")}  # fmt: skip
        if get.get("X-Amz-Algorithm") != ALGORITHM or not all(fields.values()):
            raise IncompleteSignature(
                "A presigned request needs X-Amz-Algorithm=AWS4-HMAC-SHA256, X-Amz-Credential, "
                "X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Signature."
            )
        timestamp = get.get("X-Amz-Date", "")
        expires_text = get.get("X-Amz-Expires", "")
        expires = int(expires_text) if expires_text.isdigit() else SKEW.seconds
        if expires > MAX_EXPIRES:
            raise IncompleteSignature(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}."
            )
        query = "&".join(p for p in raw_query.split("&") if not p.startswith("X-Amz-Signature="))
    else:
        authorization = headers.get("authorization")
        if not authorization:
            raise MissingAuthenticationToken("Missing Authentication Token")
        fields = _parse_header(authorization)
        timestamp = headers.get("x-amz-date", "")
        expires, query = None, raw_query
    scope = _SCOPE.fullmatch(fields["Credential"])
    if scope is None:
        raise IncompleteSignature(
            f"Credential should be of the form <key>/<yyyymmdd>/<region>/<service>/aws4_request, "
            f"not '{fields['Credential'][:200]}'."
        )
    signed_headers = fields["SignedHeaders"].split(";")
    if "host" not in signed_headers:
        raise IncompleteSignature("The host header must be signed (SignedHeaders).")
    if not re.fullmatch(r"\d{8}T\d{6}Z", timestamp):
        raise IncompleteSignature(
            "The request needs an X-Amz-Date of the form yyyymmddThhmmssZ, signed with it."
        )
    return SignedRequest(
        scope["key"], scope["date"], scope["region"], scope["service"], signed_headers,
        fields["Signature"], timestamp, query, expires,
    )  # fmt: skip


def verify(
    method: str, raw_path: str, raw_query: str, headers: dict[str, str], body: bytes,
    credentials: dict[str, Secret], services: tuple[str, ...], now: datetime | None = None,
) -> Caller:  # fmt: skip
    """The caller of a request whose signature holds; else the error AWS answers with."""
    signed = signed_request(headers, raw_query)
    secret = credentials.get(signed.access_key)
    if secret is None:
        raise UnrecognizedClient("The security token included in the request is invalid.")
    if signed.service not in services:
        raise InvalidSignature(f"Credential should be scoped to correct service: '{services[0]}'.")
    if signed.timestamp[:8] != signed.date:
        raise InvalidSignature(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{signed.date}' != '{signed.timestamp[:8]}', from '{signed.timestamp}'."
        )
    _check_time(signed, now or datetime.now(UTC))
    declared = headers.get("x-amz-content-sha256")
    if declared and declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(body).hexdigest():
        raise InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    verifier = _Verifier(secret.secret_key, signed, headers, body)
    url = "http://sagepipe" + raw_path + ("?" + signed.query if signed.query else "")
    request = AWSRequest(method=method, url=url, data=body)
    if declared:
        request.headers["X-Amz-Content-SHA256"] = declared
    request.context["timestamp"] = signed.timestamp
    canonical = verifier.canonical_request(request)
    expected = verifier.signature(verifier.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected.encode(), signed.signature.encode()):
        raise InvalidSignature(BAD_SIGNATURE)
    return Caller(signed.access_key, secret.account, signed.region)


def _check_time(signed: SignedRequest, now: datetime) -> None:
    t = signed.timestamp  # yyyymmddThhmmssZ, checked already
    try:
        at = datetime(int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]),
                      int(t[13:15]), tzinfo=UTC)  # fmt: skip
    except ValueError:
        raise IncompleteSignature(f"X-Amz-Date {t} is not a date and time.") from None
    shown = now.strftime("%Y%m%dT%H%M%SZ")
    if signed.expires is not None:  # presigned: valid from X-Amz-Date for X-Amz-Expires
        ends = at + timedelta(seconds=signed.expires) if at.year < 9999 else at
        if now > ends or at - now > SKEW:
            raise InvalidSignature(f"Signature expired: {signed.timestamp} (now {shown}).")
        return
    if at < now - SKEW:
        raise InvalidSignature(
            f"Signature expired: {signed.timestamp} is now earlier than "
            f"{(now - SKEW).strftime('%Y%m%dT%H%M%SZ')} ({shown} - 15 min.)"
        )
    if at > now + SKEW:
        raise InvalidSignature(
            f"Signature not yet current: {signed.timestamp} is still later than "
            f"{(now + SKEW).strftime('%Y%m%dT%H%M%SZ')} ({shown} + 15 min.)"
        )


def describe(credentials: dict[str, Any]) -> str:
    """How many keys and accounts, for the start-up line."""
    accounts = {secret.account for secret in credentials.values()}
    return f"{len(credentials)} key(s), {len(accounts)} account(s)"
