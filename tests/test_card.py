"""Card facts (licence, task, datasets) recorded at `lock` from hostile card metadata, and mapped into the BOM."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modellock.errors import ConfigError
from modellock.project.card import LockedCard, from_card_data
from modellock.project.lockfast import parse_canonical
from modellock.project.lockfile import HEADER, LockedFile, LockedModel, Lockfile, dumps
from modellock.project.lockread import loads, loads_checked, read_lock
from tests.helpers import cli
from tests.hub import FakeHub
from tests.test_export import _validate
from tests.test_hub_scan import FILES

CARD = {
    "license": "apache-2.0",
    "pipeline_tag": "text-generation",
    "datasets": ["acme/web", "acme/code", "not a repo!", 3, "acme/web"],
    "base_model": [],
}


def _lock_with_card(project: Path, hub: FakeHub, card: dict[str, Any]) -> LockedModel:
    hub.repo("acme/m").commit(FILES, card=card)
    (project / "modellock.toml").write_text('[models.m]\nrepo = "acme/m"\n')
    run = cli("lock")
    assert run.exit_code == 0, run.stderr
    lock = read_lock(project / "modellock.lock")
    assert lock is not None and lock.get("m") is not None
    return lock.get("m")  # type: ignore[return-value]


def test_lock_records_the_card_facts_it_can_hold(project: Path, hub: FakeHub) -> None:
    m = _lock_with_card(project, hub, CARD)
    assert m.card == LockedCard("apache-2.0", "text-generation", ("acme/code", "acme/web"))
    text = (project / "modellock.lock").read_text()
    assert 'card = { license = "apache-2.0", task = "text-generation", datasets = ["acme/code", "acme/web"] }' in text
    assert parse_canonical(text, HEADER) is not None
    assert cli("lock", "--check").exit_code == 0
    shown = cli("show", "m").stdout
    assert "  card        license apache-2.0; task text-generation; datasets acme/code, acme/web" in shown
    assert "      Hub scan at lock (evidence) safe av=safe protectai=safe" in shown
    assert json.loads(cli("show", "m", "--format", "json").stdout)["model"]["card"]["task"] == "text-generation"
    (project / "modellock.lock").write_text(text.replace('license = "apache-2.0"', 'license = "mit"'))
    run = cli("lock", "--check")
    assert run.exit_code == 1 and "m: its fields do not match its seal" in run.stderr


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_bom_has_licence_and_model_card(project: Path, hub: FakeHub, version: str) -> None:
    _lock_with_card(project, hub, CARD)
    run = cli("export", "--format", f"cyclonedx{version}")
    assert run.exit_code == 0, run.stderr
    _validate(run.stdout, version)
    [component] = json.loads(run.stdout)["components"]
    assert component["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    parameters = component["modelCard"]["modelParameters"]
    assert parameters["task"] == "text-generation"
    assert [d["name"] for d in parameters["datasets"]] == ["acme/code", "acme/web"]
    assert parameters["datasets"][0]["contents"]["url"] == "https://huggingface.co/datasets/acme/code"


def test_a_licence_spdx_does_not_know_is_named_and_no_card_means_no_fields(project: Path, hub: FakeHub) -> None:
    _lock_with_card(project, hub, {"license": "llama3"})
    [component] = json.loads(cli("export").stdout)["components"]
    assert component["licenses"] == [{"license": {"name": "llama3"}}] and "modelCard" not in component
    hub.repos[("model", "acme/m")].commit(FILES, card={})
    assert cli("lock", "--upgrade").exit_code == 0
    [component] = json.loads(cli("export").stdout)["components"]
    assert "licenses" not in component and "modelCard" not in component
    assert "card = " not in (project / "modellock.lock").read_text()


@pytest.mark.parametrize(
    "data",
    [
        {"license": ["mit", "apache-2.0"]},
        {"license": 'mit" injected = "x'},
        {"license": "a" * 65},
        {"pipeline_tag": "Text Generation"},
        {"pipeline_tag": {"x": 1}},
        {"datasets": {"acme/x": 1}},
        {"datasets": ["../../etc"]},
        "not a mapping at all",
    ],
)
def test_hostile_card_values_are_left_out(data: Any) -> None:
    assert from_card_data(data) is None


def _text(card: LockedCard) -> str:
    h = "ab" * 32
    model = LockedModel(
        "m", "huggingface", "acme/m", "model", "models/m", "main", "c" * 40, "blake3:" + "0" * 64,
        (LockedFile("model.safetensors", 2, h, h),), card=card,
    )  # fmt: skip
    return dumps(Lockfile((model,)))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('license = "mit", ', 'license = "mit", extra = "x", ', "`card` may hold license, task and datasets"),
        ('license = "mit"', 'license = "../mit"', "is not a licence identifier"),
        ('task = "fill-mask"', 'task = "Fill Mask"', "is not a task name"),
        ('datasets = ["acme/a", "acme/b"]', 'datasets = ["acme/b", "acme/a"]', "sorted, non-empty list"),
        ('datasets = ["acme/a", "acme/b"]', "datasets = []", "sorted, non-empty list"),
        ('card = { license = "mit", task = "fill-mask", datasets = ["acme/a", "acme/b"] }', "card = {}", "at least"),
    ],
)
def test_a_card_the_lock_cannot_hold_is_refused_with_its_line(old: str, new: str, message: str) -> None:
    text = _text(LockedCard("mit", "fill-mask", ("acme/a", "acme/b")))
    assert old in text and loads_checked(text).canonical
    bad = text.replace(old, new, 1)
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        loads(bad)
    assert caught.value.line == next(i for i, line in enumerate(bad.splitlines(), 1) if line.startswith("card ="))


@pytest.mark.parametrize(("license_", "expression"), [("apache-2.0", "Apache-2.0"), ("llama3", "LicenseRef-llama3")])
def test_spdx3_declares_the_card_licence(project: Path, hub: FakeHub, license_: str, expression: str) -> None:
    from tests.test_export import _spdx_valid

    _lock_with_card(project, hub, {**CARD, "license": license_})
    run = cli("export", "--format", "spdx3")
    assert run.exit_code == 0, run.stderr
    graph = _spdx_valid(run.stdout)["@graph"]
    [package] = [e for e in graph if e["type"] == "ai_AIPackage"]
    [declared] = [e for e in graph if e.get("relationshipType") == "hasDeclaredLicense"]
    [license_element] = [e for e in graph if e["type"] == "simplelicensing_LicenseExpression"]
    assert declared["from"] == package["spdxId"] and declared["to"] == [license_element["spdxId"]]
    assert license_element["simplelicensing_licenseExpression"] == expression
