"""`--with-bases`: add every declared parent to the manifest and lock again, up the chain.

Each round locks; an `UnlockedBase` names the parents the lock lacks, which are added as
`[models.NAME]` entries (the adapter's pinned revision if it declares one, else `main`; the child's
hf-cache when it uses one, so a loader of the child finds its base there). Entries already locked are
kept (sticky), and bytes already in the store are not fetched again, so a round costs little. A chain
longer than `MAX_DEPTH` stops; a cycle is refused by `link` once both ends are in the lock. If any
round fails, the manifest (and lock) are put back as they were, like `uv add`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modellock.errors import CheckFailed
from modellock.ops.lineage import MAX_DEPTH, UnlockedBase, unique_name
from modellock.ops.lock import LockResult
from modellock.ops.project import RepoSpec, add_model, default_name, restored_on_failure
from modellock.project.discover import LOCK_NAME
from modellock.project.manifest import Manifest, load_manifest


@dataclass(frozen=True)
class BasesAdded:
    """What `--with-bases` did: the final lock run and the parents it added to the manifest."""

    result: LockResult
    added: tuple[tuple[str, str], ...]
    """(manifest name, repository) of each added parent, in the order added."""


def lock_with_bases(manifest_path: Path, run_lock: Callable[[Manifest], LockResult]) -> BasesAdded:
    """Lock, adding unlocked parents to the manifest until none is missing (at most `MAX_DEPTH` rounds)."""
    added: list[tuple[str, str]] = []
    with restored_on_failure(manifest_path, manifest_path.with_name(LOCK_NAME)):
        for _ in range(MAX_DEPTH + 1):
            manifest = load_manifest(manifest_path)
            try:
                return BasesAdded(run_lock(manifest), tuple(added))
            except UnlockedBase as exc:
                missing = exc
            seen: set[str] = set()
            for m in missing.missing:
                if m.repo.lower() in seen:
                    continue  # two children of one base: add it once
                seen.add(m.repo.lower())
                taken = set(load_manifest(manifest_path).models)
                name = unique_name(default_name(m.repo), taken)
                hf_cache = m.layout == "hf-cache"
                add_model(
                    manifest_path,
                    RepoSpec(m.repo, m.pin or None, "model"),
                    name=name,
                    layout="hf-cache" if hf_cache else None,
                    path=m.install_path if hf_cache else None,
                )
                added.append((name, m.repo))
        raise CheckFailed(
            f"--with-bases: the chain of bases is deeper than {MAX_DEPTH} generations "
            f"(added {', '.join(repo for _, repo in added)})",
            hint='add the bases by hand with `modellock add`, or set `bases = "warn"` where the chain should stop',
        )


def lock_and_maybe_bases(
    manifest: Manifest,
    with_bases: bool,
    run_lock: Callable[[Manifest], LockResult],
    *,
    adding: RepoSpec | None = None,
) -> BasesAdded:
    """One lock run, or with `--with-bases` the rounds that add unlocked parents to the manifest first.

    `adding`: the repository `modellock add` is adding, which a failure takes out of the manifest again,
    so the hint must be the `add` to run, not a `lock` of an entry that is gone.
    """
    if with_bases:
        return lock_with_bases(manifest.path, run_lock)
    try:
        return BasesAdded(run_lock(manifest), ())
    except UnlockedBase as exc:
        if adding is not None:
            exc.hint = f"nothing was added; add it with the bases it declares: `{add_again(adding)} --with-bases`"
        raise


def add_again(spec: RepoSpec) -> str:
    """The `modellock add` command line that names `spec` again."""
    import shlex

    typed = spec.repo + (f"@{spec.revision}" if spec.revision else "")
    kind = " --repo-type dataset" if spec.repo_type == "dataset" else ""
    return f"modellock add {shlex.quote(typed)}{kind}"
