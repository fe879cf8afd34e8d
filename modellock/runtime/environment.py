"""The environment `modellock run` gives its command: offline, the project's cache, the guard armed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from modellock.runtime.hooks import ENV_VAR, Table
from modellock.runtime.table import hf_cache_roots

SITE_DIR = str(Path(__file__).with_name("_site"))
"""Holds only `sitecustomize.py`; on PYTHONPATH it arms the guard in every Python the command starts."""

FIXED = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_TELEMETRY": "1",  # diffusers' and older transformers' own switch
    "DO_NOT_TRACK": "1",
}


def run_environment(base: Mapping[str, str], table: Table, project_dir: Path) -> dict[str, str]:
    """`base` with the lock in force. HF_HUB_CACHE is set only when every hf-cache model shares one cache
    (the guard sends each locked repository to its own cache whatever the variable says; the variable
    matters to code that reads the cache without huggingface_hub's download functions)."""
    env = dict(base)
    env.update(FIXED)
    roots = hf_cache_roots(table)
    if len(roots) == 1:
        env["HF_HUB_CACHE"] = roots[0]
        env.pop("TRANSFORMERS_CACHE", None)  # deprecated, and it would win over HF_HUB_CACHE in old releases
    env[ENV_VAR] = table.dumps()
    env["MODELLOCK_PROJECT"] = str(project_dir.absolute())
    rest = base.get("PYTHONPATH")
    env["PYTHONPATH"] = SITE_DIR + (os.pathsep + rest if rest else "")
    return env
