"""Who is calling, from the SigV4 Authorization header (docs/behaviour.md §3): the access key picks the
account, the credential scope's region picks the region."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sagepipe.errors import AccessDenied

_CREDENTIAL = re.compile(
    r"Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request"
)
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Caller:
    access_key: str
    account: str
    region: str


def identify(authorization: str | None, accounts: dict[str, str]) -> Caller:
    """`accounts` maps access keys to account ids; unknown keys use the default account."""
    if not authorization:
        return Caller("anonymous", DEFAULT_ACCOUNT, DEFAULT_REGION)
    if not authorization.startswith("AWS4-HMAC-SHA256"):
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
