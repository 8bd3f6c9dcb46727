"""The console's session cookie: issued for a key, valid only as issued, until it expires,
and only on requests that carry the console's header."""

from __future__ import annotations

from sagepipe.gateway.console_session import HEADER, LIFETIME_S, caller_of, issue, set_cookie
from sagepipe.gateway.sigv4 import Secret

KEYS = {"AKIDA": Secret("secret-a", "111111111111"), "AKIDB": Secret("secret-b", "222222222222")}
NOW = 1_800_000_000.0


def headers(token: str, console: bool = True) -> dict[str, str]:
    return {"cookie": f"other=1; sagepipe_console={token}", **({HEADER: "1"} if console else {})}


def test_a_token_names_its_keys_account_until_it_expires() -> None:
    token = issue("AKIDA", KEYS["AKIDA"], now=NOW)
    caller = caller_of(headers(token), KEYS, now=NOW + 10)
    assert caller is not None and (caller.access_key, caller.account) == ("AKIDA", "111111111111")
    assert caller_of(headers(token), KEYS, now=NOW + LIFETIME_S + 1) is None
    assert "HttpOnly" in set_cookie(token) and "SameSite=Strict" in set_cookie(token)


def test_forged_or_foreign_tokens_and_missing_headers_count_for_nothing() -> None:
    token = issue("AKIDA", KEYS["AKIDA"], now=NOW)
    key, expiry, mac = token.split(".")
    assert caller_of(headers(token, console=False), KEYS, now=NOW) is None
    for forged in (f"AKIDB.{expiry}.{mac}", f"{key}.{int(expiry) + 1}.{mac}", f"{key}.{expiry}.x",
                   f"AKIDZ.{expiry}.{mac}", f"{key}.soon.{mac}", "", "garbage", "a.b"):  # fmt: skip
        assert caller_of(headers(forged), KEYS, now=NOW) is None, forged
    changed = {"AKIDA": Secret("rotated", "111111111111")}
    assert caller_of(headers(token), changed, now=NOW) is None  # a new secret ends sessions
    assert caller_of({HEADER: "1", "cookie": "sagepipe_console"}, KEYS, now=NOW) is None
