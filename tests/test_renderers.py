"""One renderer interface (report/interface.py, report/views.py): every command renders through a table
of formats chosen by `--format`, and no command body branches on the format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modellock.errors import UsageError
from modellock.report import views
from modellock.report.interface import Call, Formats, Json, Lines

CLI = Path(__file__).resolve().parent.parent / "modellock" / "cli"


class Recorder:
    """An `Output` that keeps what it was given."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.documents: list[Any] = []

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def json(self, data: Any) -> None:
        self.documents.append(data)


def _formats() -> Formats[int]:
    return Formats(
        text=Lines(lambda n: [f"{n} apples"]),
        json=Json(lambda n: {"apples": n}),
        loud=Call(lambda n, out: out.line(f"{n} APPLES")),
    )


@pytest.mark.parametrize(
    ("name", "lines", "documents"),
    [
        ("text", ["3 apples"], []),
        ("json", [], [{"apples": 3}]),
        ("loud", ["3 APPLES"], []),
    ],
)
def test_the_format_name_selects_the_renderer(name: str, lines: list[str], documents: list[Any]) -> None:
    out = Recorder()
    _formats().render(name, 3, out)
    assert (out.lines, out.documents) == (lines, documents)


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no 'sarif' output here") as caught:
        _formats().render("sarif", 3, Recorder())
    assert caught.value.hint == "--format is one of text, json, loud"


_TEXT_JSON = {"text", "json"}


@pytest.mark.parametrize(
    ("view", "names"),
    [
        (views.cache_verify(), _TEXT_JSON),
        (views.cache_prune(), _TEXT_JSON),
        (views.tree(), _TEXT_JSON),
        (views.why("x"), _TEXT_JSON),
        (views.list_models(), _TEXT_JSON),
        (views.diff(), _TEXT_JSON),
        (views.outdated(), _TEXT_JSON),
        (views.audit(), {"text", "json", "sarif"}),
        (views.installed("status"), _TEXT_JSON),
        (views.scan(), {"text", "json", "sarif"}),
        (views.push(), _TEXT_JSON),
        (views.oci_layout(Path("x")), _TEXT_JSON),
        (views.lock(Path("x"), ()), _TEXT_JSON),
        (views.check(Path("x"), "x"), _TEXT_JSON),
        (views.proof(Path("x"), "x"), _TEXT_JSON),
        (views.sync(ok=True), _TEXT_JSON),
        (views.add(Path("x")), _TEXT_JSON),
        (views.added_unlocked(Path("x")), _TEXT_JSON),
        (views.sign(), _TEXT_JSON),
    ],
)
def test_each_view_offers_what_its_format_option_offers(view: Formats[Any], names: set[str]) -> None:
    """The CLI's enums (`Format`: text, json; `ScanFormat`: and sarif) and the tables agree."""
    assert set(view.renderers) == names


# A command body may look at the format only to decide whether progress bars are drawn.
_BRANCHES = re.compile(
    r"is (Scan)?Format\.(json|sarif)|is ScanFormat\.text|output\.value ==|if output is Format\.text:"
)


def test_no_command_body_branches_on_the_format() -> None:
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(CLI.glob("*_cmd.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _BRANCHES.search(line)
    ]
    assert not found, "render through report/views.py instead:\n" + "\n".join(found)


def test_the_sign_document_keeps_its_shape() -> None:
    from modellock.ops.sign import SignedModel, SignResult
    from modellock.report.json_more import sign

    model = SignedModel("m", "m/model.sig", 2, 1, "ab" * 32, "files", "sha256", ())
    assert sign(SignResult((model,))) == {
        "schema": 1,
        "ok": True,
        "signatures": [
            {
                "target": "m", "signature": "m/model.sig", "files": 2, "resources": 1,
                "root_digest": "sha256:" + "ab" * 32, "serialization": "files", "hash": "sha256",
                "unsigned_empty": [],
            }
        ],
    }  # fmt: skip
