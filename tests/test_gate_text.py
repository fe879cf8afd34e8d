"""When bytes that start with an opcode are "not a pickle" (gate/scanner._scan_pickle), clause by clause.

A protocol-0 pickle is text, so text files reach the pickle walk. "Not a pickle" is only said when
CPython's unpickler would also stop before calling anything, and for a name no loader unpickles,
after importing nothing graded malicious. Every row below fails if one clause of that rule goes;
the real text files of a model repository (written by tokenizers, transformers, huggingface_hub)
stay admitted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modellock.gate.enforce import decide
from modellock.gate.scanner import scan_bytes, scan_file
from modellock.project.policy import Policy

TEXT_PICKLE = b"cos\nsystem\n(S'id'\ntR."
BENIGN = Path(__file__).parent / "data" / "bypasses" / "benign"
MOST_PERMISSIVE = Policy(pickle="allow", remote_code="allow")

# (bytes, repository name, refused under every policy?, words a finding must contain)
ROWS = [
    # a whole text pickle is a pickle whatever its name
    (TEXT_PICKLE, "notes.txt", True, "imports os.system"),
    (TEXT_PICKLE, "README.md", True, "imports os.system"),
    (TEXT_PICKLE, "config.json", True, "imports os.system"),
    (TEXT_PICKLE, "weights", True, "imports os.system"),
    (TEXT_PICKLE + b"\nand more prose", "notes.txt", True, "imports os.system"),
    # broken after a malicious import, before any call: the import already ran (guards the grade clause)
    (b"cos\nsystem\n\n", "notes.txt", True, "imports os.system"),
    (b"cos\nsystem\nis what this note is about\n", "notes.md", True, "imports os.system"),
    (b"cantigravity\nno such name\n", "notes.txt", True, "find_class imports antigravity"),
    # broken after a call: code already ran (guards the calls clause)
    (b"csomething\nelse\n)R\n", "notes.txt", True, "imports something.else"),
    # broken where another unpickler reads on (guards the parse/unresolvable clause)
    (b"I0x1\n.", "notes.txt", True, "parsers disagree"),
    # a name loaders unpickle: any import makes it a broken pickle (guards the name clause)
    (b"csomething\nelse\n\n", "model.bin", True, "imports something.else"),
    (b"csomething\nelse\n\n", "model.pkl", True, "imports something.else"),
    # text that spells a harmless GLOBAL line and breaks: not a pickle
    (b"csomething\nelse\n\n", "notes.txt", False, ""),
    (b"cuda\nversion\n12.1\n", "notes.txt", False, ""),
    (b"cos\ncosine of an angle\n", "notes.txt", False, ""),  # imports os (which runs nothing), then fails
    # broken at once, nothing imported: not a pickle, whatever the name (guards the first clause)
    (b"0 is where this file starts", "model.bin", False, ""),
    (b"cd build\nmake install\n", "INSTALL", False, ""),
    (b"torch>=2\nPillow\nrequests\n", "requirements.txt", False, ""),
]


@pytest.mark.parametrize(("data", "name", "refused", "words"), ROWS)
def test_text_that_reaches_the_pickle_walk(data: bytes, name: str, refused: bool, words: str) -> None:
    result = scan_bytes(data, name)
    text = " | ".join(f.message for f in result.findings)
    for policy in (Policy(), Policy(pickle="scan"), MOST_PERMISSIVE):
        assert decide(name, result, policy, "m").allowed is not refused, (policy, result.format, text)
    if refused:
        assert result.kind == "pickle" and words in text, text
    else:
        assert result.kind == "data" and result.verdict == "safe", text


def test_the_text_pickle_is_graded_malicious_and_named() -> None:
    result = scan_bytes(TEXT_PICKLE, "notes.txt")
    assert result.verdict == "malicious"
    reason = decide("notes.txt", result, MOST_PERMISSIVE, "m").reason
    assert reason.startswith("malicious:") and "os.system" in reason


def test_real_text_files_of_a_model_repository_stay_admitted() -> None:
    names = sorted(p.name for p in BENIGN.iterdir())
    assert {"tokenizer.json", "config.json", "README.md", "tokenizer_config.json"} <= set(names)
    assert b"cos\nsystem\n" in (BENIGN / "README.md").read_bytes()  # the card spells a GLOBAL line
    for name in names:
        result = scan_file(BENIGN / name, name)
        assert (result.format, result.verdict) == ("data", "safe"), (name, result.findings)
        assert decide(name, result, Policy(), "m").allowed
    json.loads((BENIGN / "tokenizer.json").read_text())  # the real thing, not a stand-in


def test_real_python_files_are_code_not_pickles() -> None:
    import inspect

    for module in (json, inspect, pytest):
        source = Path(inspect.getsourcefile(module) or "")
        result = scan_file(source, f"modeling_{source.parent.name}.py")
        assert (result.kind, result.verdict) == ("code", "safe"), (source, result.findings)
        assert decide(source.name, result, MOST_PERMISSIVE, "m").allowed
    for text in (b"import torch\nimport os\n", b"class Model:\n    pass\n", b"def f():\n    return 1\n"):
        result = scan_bytes(text, "modeling_custom.py")
        assert result.kind == "code", (text, result.findings)
