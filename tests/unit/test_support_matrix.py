"""docs/support-matrix.md stays true to the suite: every row names a test, and every test it
names exists (a renamed or deleted test fails here, not silently in the docs)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "support-matrix.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def rows() -> list[str]:
    return [line for line in MATRIX.read_text().splitlines()
            if line.startswith("| ") and not line.startswith(("| Step type", "| Feature"))]  # fmt: skip


def test_every_row_but_the_unbuilt_names_a_test() -> None:
    unbacked = [r for r in rows() if not REFERENCE.search(r) and "not built" not in r]
    assert rows() and unbacked == []


def test_every_test_the_matrix_names_exists() -> None:
    missing = []
    for row in rows():
        for path, function in REFERENCE.findall(row):
            source = ROOT / path
            if not source.is_file():
                missing.append(path)
            elif function and not re.search(rf"^def {function}\(", source.read_text(), re.M):
                missing.append(f"{path}::{function}")
    assert missing == []
