"""What models declare about their parents is hostile input: parsed defensively, local paths not followed."""

from __future__ import annotations

import json

from modellock.project.parents import Declared, combine, from_adapter_config, from_card, from_gguf


def test_adapter_config_names_a_hub_base_and_its_pin() -> None:
    found, notes = from_adapter_config(json.dumps({"base_model_name_or_path": "acme/base", "revision": "v1"}).encode())
    assert found == [Declared("acme/base", "adapter", ("adapter_config",), "v1")] and notes == []
    found, _ = from_adapter_config(json.dumps({"base_model_name_or_path": "acme/base", "revision": None}).encode())
    assert found[0].pin == ""


def test_adapter_config_hostile_values_are_reported_not_followed() -> None:
    for value, note in [
        ("/home/me/llama", "not a Hub id"),
        ("../../etc", "not a Hub id"),
        ("C:\\models\\llama", "not a Hub id"),
        (42, "not a Hub id"),
    ]:
        found, notes = from_adapter_config(json.dumps({"base_model_name_or_path": value}).encode())
        assert found == [] and note in notes[0]
    found, notes = from_adapter_config(json.dumps({"base_model_name_or_path": "a/b", "revision": 'x" y'}).encode())
    assert found == [] and "not a revision" in notes[0]
    assert from_adapter_config(b"\xff not json")[1] == ["adapter_config.json is not JSON; not read"]
    assert "larger than" in from_adapter_config(b" " * (2 << 20))[1][0]
    assert from_adapter_config(b"[1, 2]") == ([], [])


def test_card_base_model_string_list_urls_and_hub_relations() -> None:
    found, _ = from_card({"base_model": "acme/base"}, None)
    assert found == [Declared("acme/base", "finetune", ("card",))]
    found, _ = from_card({"base_model": ["acme/a", "https://huggingface.co/acme/b", "acme/a"]}, None)
    assert [(d.repo, d.relation) for d in found] == [("acme/a", "merge"), ("acme/b", "merge")]
    found, notes = from_card({"base_model": [{"x": 1}, None]}, {"relation": "quantized", "models": [{"id": "o/q"}, 7]})
    assert [(d.repo, d.relation) for d in found] == [("o/q", "quantized")] and len(notes) == 2
    assert from_card({}, {"relation": "adapter", "models": "nonsense"}) == ([], [])


def test_gguf_and_combine() -> None:
    found, notes = from_gguf(
        {"general.type": "adapter", "general.base_model.0.repo_url": "https://huggingface.co/acme/base",
         "general.base_model.1.repo_url": "https://example.com/x"}, "a.gguf",
    )  # fmt: skip
    assert found == [Declared("acme/base", "adapter", ("gguf",))] and "not a Hub repository" in notes[0]
    merged = combine(
        [Declared("Acme/Base", "adapter", ("adapter_config",), "v1"), Declared("acme/base", "finetune", ("card",))]
    )
    assert merged == (Declared("Acme/Base", "adapter", ("adapter_config", "card"), "v1"),)
