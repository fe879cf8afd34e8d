"""Whole-string validators end in `\\Z`, not `$`: `$` also matches before a final newline, so "abc\\n" passed a
check meant for "abc" (a sealed lock could carry a digest with a newline the writer then escaped)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modellock.project import paths

SOURCE = Path(__file__).resolve().parents[1] / "modellock"


def test_no_anchored_pattern_ends_in_dollar() -> None:
    offenders = [
        f"{py.relative_to(SOURCE.parent)}:{n}"
        for py in sorted(SOURCE.rglob("*.py"))
        for n, line in enumerate(py.read_text().splitlines(), 1)
        if re.search(r're\.compile\(r"\^[^"]*\$"\)', line)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (paths.valid_repo_id, "acme/tiny\n"),
        (paths.valid_model_name, "tiny\n"),
    ],
)
def test_a_trailing_newline_is_refused(check: object, value: str) -> None:
    assert callable(check)
    assert check(value.rstrip("\n")) and not check(value)
