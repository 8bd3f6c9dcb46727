"""ARNs and names of the resources sagepipe serves (SPEC §3)."""

from __future__ import annotations

import re
import secrets
import string

_PIPELINE_ARN = re.compile(
    r"arn:aws[a-z\-]*:sagemaker:(?P<region>[a-z0-9\-]*):(?P<account>[0-9]{12}):pipeline/(?P<name>[^/]+)"
)
_EXECUTION_ARN = re.compile(_PIPELINE_ARN.pattern + r"/execution/(?P<id>[^/]+)")
_ALNUM = string.ascii_lowercase + string.digits


def pipeline_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:pipeline/{name}"


def execution_arn(pipeline: str, execution_id: str) -> str:
    return f"{pipeline}/execution/{execution_id}"


def random_chars(alphabet: str, length: int) -> str:
    """`length` characters drawn from `alphabet`, unguessable (callback tokens use this).

    One urandom read per call, not one per character: digits of a 64-bit-longer random number
    in base len(alphabet), so the bias is below 2**-64."""
    base = len(alphabet)
    number = int.from_bytes(secrets.token_bytes((base**length).bit_length() // 8 + 9))
    chars = []
    for _ in range(length):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return "".join(chars)


def new_execution_id() -> str:
    return random_chars(_ALNUM, 12)


def parse_pipeline_arn(arn: str) -> dict[str, str] | None:
    match = _PIPELINE_ARN.fullmatch(arn)
    return match.groupdict() if match else None


def parse_execution_arn(arn: str) -> dict[str, str] | None:
    match = _EXECUTION_ARN.fullmatch(arn)
    return match.groupdict() if match else None


def pipeline_name_from(name_or_arn: str) -> tuple[str, dict[str, str] | None]:
    """Returns the pipeline name and, when an ARN was given, its parts (to check scope)."""
    parts = parse_pipeline_arn(name_or_arn)
    if parts:
        return parts["name"], parts
    return name_or_arn, None
