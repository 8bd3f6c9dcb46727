"""Named SQL queries, read from store/sql/queries.sql.

A query is written once in portable SQL with `:name` parameters. Where a dialect needs its
own text, a second block named `name@postgres` (or `name@sqlite`) overrides it.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@cache
def _load(filename: str) -> dict[str, str]:
    text = resources.files("sagepipe.store").joinpath("sql", filename).read_text()
    blocks: dict[str, str] = {}
    name = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                blocks[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif not line.startswith("--"):
            lines.append(line)
    if name:
        blocks[name] = "\n".join(lines).strip()
    return blocks


class Queries:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._compiled: dict[str, str] = {}

    def sql(self, name: str) -> str:
        text = self._compiled.get(name)
        if text is None:
            blocks = _load("queries.sql")
            text = blocks.get(f"{name}@{self.dialect}") or blocks[name]
            if self.dialect == "postgres":
                text = _PARAM.sub(r"%(\1)s", text.replace("%", "%%"))
            self._compiled[name] = text
        return text
