"""Whether an adapter's loader can reach the base the lock pins for it, given where each is installed.

PEFT reads `base_model_name_or_path` from `adapter_config.json` and loads that repository id with
`from_pretrained`; offline, an id resolves only through the Hugging Face cache the process uses
(HF_HUB_CACHE, one directory). So an adapter installed into an hf-cache, which people load by
repository id, finds its locked base only when the base sits in that same cache. A base installed
as a plain directory, or in another cache, is invisible to it, and the load fails offline (or
fetches whatever the Hub has online, which is the bypass the lock exists to prevent).

This warns rather than refuses: the lock is still right, and a script that loads the base from its
directory and passes it to `PeftModel.from_pretrained(base, adapter)` works. `lock` and `sync` say
it with the fix. Finetunes, quantizations and merges do not load their parent, so they are not asked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection

from modellock.project.discover import MANIFEST_NAME
from modellock.project.lockfile import LockedModel


def _same_place(a: str, b: str) -> bool:
    return posixpath.normpath(a.replace("\\", "/")) == posixpath.normpath(b.replace("\\", "/"))


def unreachable_base(child: LockedModel, parent: LockedModel) -> str | None:
    """Why `child`'s loader cannot find `parent` where the lock installs it, or None when it can."""
    if child.layout != "hf-cache":
        return None  # loaded by directory: the caller names the base's directory too
    if parent.layout == "hf-cache" and _same_place(child.install_path, parent.install_path):
        return None
    where = (
        f"in another hf-cache (`{parent.install_path}`)"
        if parent.layout == "hf-cache"
        else f"as a plain directory (`{parent.install_path}`)"
    )
    return (
        f"`{child.name}` is an adapter in the hf-cache `{child.install_path}`, but its base `{parent.name}` "
        f"({parent.repo}) is installed {where}: PEFT loads the base by repository id through one cache, "
        f"so offline it will not find it; to fix, give [models.{parent.name}] in {MANIFEST_NAME} "
        f'`layout = "hf-cache"` and `path = "{child.install_path}"`, then run `modellock lock`'
    )


def unreachable_bases(models: Collection[LockedModel]) -> tuple[str, ...]:
    """A warning per adapter edge whose base its loader cannot reach (see the module's docstring)."""
    by_name = {m.name: m for m in models}
    found = []
    for child in sorted(by_name.values(), key=lambda m: m.name):
        for edge in child.bases:
            parent = by_name.get(edge.model)
            if edge.relation != "adapter" or "adapter_config" not in edge.evidence or parent is None:
                continue  # only PEFT resolves its base at load time; a dangling edge is edgecheck's to name
            problem = unreachable_base(child, parent)
            if problem:
                found.append(problem)
    return tuple(found)
