"""`modellock sync`: install exactly what the lock says, in two phases (prepare, then commit)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modellock.errors import CheckFailed, IntegrityError, UnsafePath, UsageError
from modellock.gate.enforce import gate_files
from modellock.ops.check import model_claim
from modellock.ops.edgecheck import edge_problems, hf_cache_bases, parents_first, with_ancestors
from modellock.ops.gatefacts import refuse_misrecorded
from modellock.ops.progress import Progress
from modellock.ops.reach import requested_commit_problem
from modellock.project.lockfile import LockedFile, LockedModel, Lockfile
from modellock.project.paths import claims_problem
from modellock.store import atomic
from modellock.store.blobs import Store
from modellock.store.hfcache import RECORDS, is_snapshot, ref_names, ref_problem
from modellock.store.installed import (
    MARKER,
    FileStat,
    InstallState,
    holds_anything,
    installed_stat,
    read_state,
    recover,
    remove_installed,
    remove_tree,
    staging_dir,
    swap_in,
    symlinked_part,
    target_of,
    user_files,
    write_state,
)
from modellock.store.linking import Linker, LinkMode

if TYPE_CHECKING:  # imported where used: a warm sync needs neither downloads nor signatures
    from modellock.ops.signatures import TrustSource
    from modellock.sources import Source

Action = Literal["install", "unchanged", "remove"]


@dataclass(frozen=True)
class ModelSync:
    """What sync did, or would do, to one model."""

    name: str
    commit: str
    target: str
    action: Action
    reason: str
    """Why it needs installing: not installed, different snapshot, files changed on disk."""
    files: int
    size: int
    dropped: tuple[str, ...] = ()
    """Files in its directory the lock does not list, which an exact install removes (or would)."""


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one `sync` run."""

    models: tuple[ModelSync, ...]
    downloaded_files: int
    downloaded_bytes: int
    link_mode: str | None
    warnings: tuple[str, ...]
    dry_run: bool
    check: bool
    elapsed: float
    signatures_verified: int = 0
    trust_root: str | None = None
    """Where the Sigstore trust root came from, when a signature was verified with one."""

    @property
    def installed(self) -> list[ModelSync]:
        return [m for m in self.models if m.action == "install"]

    @property
    def removed(self) -> list[ModelSync]:
        return [m for m in self.models if m.action == "remove"]


def _drift(model: LockedModel, target: Path, inexact: bool, is_base: bool = False) -> str | None:
    """Why `target` does not hold exactly `model` (by stat only), or None if it does."""
    state = read_state(target)
    if state is None:
        return "not installed"
    if state.digest != model.digest or state.commit != model.commit:
        return f"installed {state.commit[:7]}, locked {model.commit[:7]}"
    base = f"{target}{os.sep}"
    for f in model.files:
        recorded = state.files.get(f.path)
        try:
            if recorded is None or installed_stat(model, base, f) != recorded:
                return f"{f.path} changed on disk"
        except FileNotFoundError:
            return f"{f.path} is missing"
    if not inexact:
        extra = set(user_files(target)) - {f.path for f in model.files}
        if extra:
            return f"{len(extra)} file{'s' if len(extra) > 1 else ''} not in the lock"
    if is_snapshot(target) and (target / MARKER).exists():
        return "its install record is inside the snapshot (written by an older modellock)"
    return ref_problem(model, target, is_base)


def _linked_part(model: LockedModel, target: Path, project_dir: Path, base: bool = False) -> Path | None:
    """The first path sync would write through that is a symlink, or None.

    Inside the project, every component of a relative install path (a pull request can commit a
    symlink); in an hf-cache, everything modellock writes under the repository folder.
    """
    path = Path(os.path.expanduser(model.install_path))
    if not path.is_absolute() and ".." not in path.parts:
        found = symlinked_part(project_dir, *path.parts)
        if found is not None:
            return found
    if model.layout != "hf-cache":
        return target if target.is_symlink() else None
    repo = target.parent.parent
    ref = tuple("refs/" + name for name in ref_names(model, base))
    parts = ("blobs", f"snapshots/{target.name}", RECORDS, *ref)
    return symlinked_part(repo.parent, repo.name) or next(
        (p for p in (symlinked_part(repo, part) for part in parts) if p is not None), None
    )


def _check_ownership(model: LockedModel, target: Path, force: bool, project_dir: Path, base: bool = False) -> None:
    linked = _linked_part(model, target, project_dir, base)
    if linked is not None:
        raise CheckFailed(
            f"{model.name}: {linked} is a symlink; modellock never writes through one",
            hint="replace it with a real directory, or point the model's `path` at the real location",
        )
    if target.exists() and not target.is_dir():
        raise CheckFailed(f"{model.name}: {target} exists and is not a directory")
    if read_state(target) is None and holds_anything(target) and not force:
        raise CheckFailed(
            f"{model.name}: {target} holds files modellock did not install",
            hint="move them away, or pass --force to let modellock take the directory over (its files are replaced)",
        )


def _ensure_blobs(store: Store, models: list[LockedModel], deep: bool = False) -> list[tuple[LockedModel, LockedFile]]:
    """Blobs that must be fetched: missing, or changed since written and no longer hashing to their name.

    `deep` (`--reinstall`) re-hashes even blobs whose stat says they are as written.
    """
    missing: list[tuple[LockedModel, LockedFile]] = []
    seen: set[str] = set()
    for model in models:
        extra = [LockedFile(s.path, s.size, s.blake3, s.sha256)] if (s := model.signature) else []
        for f in (*model.files, *extra):
            if f.blake3 not in seen:
                seen.add(f.blake3)
                if deep or not store.intact(f.blake3, f.size):
                    if store.has(f.blake3, f.size) and store.verify_blob(f.blake3):
                        store.reseal(f.blake3)
                    else:
                        store.evict(f.blake3)
                        missing.append((model, f))
                        continue  # the download checks both digests
            _check_pairing(store, model, f)
    return missing


def _check_pairing(store: Store, model: LockedModel, f: LockedFile) -> None:
    """The blob named by the lock's BLAKE3 has the lock's SHA-256 (what the Hub and signatures vouch for)."""
    sha256 = store.sha256_of(f.blake3, f.size)
    if sha256 is not None and sha256 != f.sha256:
        raise IntegrityError(
            f"{model.name}: {f.path}: the lock pairs BLAKE3 {f.blake3[:12]}… with SHA-256 {f.sha256[:12]}…, "
            f"but the bytes with that BLAKE3 have SHA-256 {sha256[:12]}…",
            hint="the lock was edited or forged; nothing was installed (`modellock lock --check --remote` "
            "shows what the Hub holds)",
            model=model.name,
            path=f.path,
            expected=f"sha256:{f.sha256}",
            actual=f"sha256:{sha256}",
        )


def _place_hf_blob(store: Store, f: LockedFile, blobs: Path, linker: Linker) -> Path:
    """The cache's `blobs/<sha256>` for a file, linked from the store unless it already is that file."""
    blob = blobs / f.sha256
    source = store.blob_path(f.blake3)
    with contextlib.suppress(FileNotFoundError):
        if os.path.samestat(os.lstat(blob), os.lstat(source)):  # the store's own file, not a link to one
            return blob
    tmp = blobs / atomic.temp_name(f.sha256)
    tmp.unlink(missing_ok=True)
    linker.link(source, tmp)
    os.replace(tmp, blob)
    return blob


def _carry_over(model: LockedModel, target: Path, staged: Path) -> None:
    """`--inexact`: the user's own files and empty directories come along; symlinks do not, and none is followed."""
    locked = {f.path for f in model.files}
    for extra in user_files(target):
        src, dst = target / extra, staged / extra
        if extra in locked or src.is_symlink() or os.path.lexists(dst):
            continue
        if extra.endswith("/"):
            dst.mkdir(parents=True, exist_ok=True)
        elif symlinked_part(staged, *extra.split("/")[:-1]) is None:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)


def _build(
    model: LockedModel, store: Store, target: Path, staged: Path, linker: Linker, inexact: bool, base: bool = False
) -> None:
    """Build the model's tree in `staged`, beside `target`, and swap it in."""
    blobs = target.parent.parent / "blobs" if model.layout == "hf-cache" else None
    stats: dict[str, FileStat] = {}
    for f in model.files:
        dst = staged / f.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        if blobs is not None:
            blobs.mkdir(parents=True, exist_ok=True)
            blob = _place_hf_blob(store, f, blobs, linker)
            os.symlink(os.path.relpath(blob, dst.parent), dst)
        else:
            linker.link(store.blob_path(f.blake3), dst)
        stats[f.path] = FileStat.of(dst)
    if inexact:
        _carry_over(model, target, staged)
    write_state(staged, InstallState(model.name, model.commit, model.digest, stats), target)
    swap_in(staged, target)
    for name in ref_names(model, base):
        atomic.write_text(target.parent.parent / "refs" / name, model.commit)  # no newline, as huggingface_hub does


def _synced(model: LockedModel, target: Path, reason: str | None, dropped: tuple[str, ...] = ()) -> ModelSync:
    action: Action = "unchanged" if reason is None else "install"
    return ModelSync(
        model.name, model.commit, str(target), action, reason or "", len(model.files), model.size, dropped
    )


def _dropped(model: LockedModel, target: Path, inexact: bool) -> tuple[str, ...]:
    """What an exact install of `model` takes out of `target`: the user should hear what was deleted."""
    if inexact:
        return ()
    locked = {f.path for f in model.files}
    return tuple(p for p in user_files(target) if p not in locked and not p.endswith("/"))


def _stage(plans: list[tuple[LockedModel, Path, str | None]]) -> dict[str, Path]:
    """A staging directory beside every target to build, all made before the first swap, so a target
    that cannot be built (its path runs through a file, a read-only place) stops the run unchanged."""
    staged: dict[str, Path] = {}
    for model, target, reason in plans:
        if reason is None:
            continue
        try:
            staged[model.name] = staging_dir(target)
        except OSError as exc:
            for path in staged.values():
                remove_tree(path)
            raise _cannot_install(model, target, exc) from None
    return staged


def _cannot_install(model: LockedModel, target: Path, exc: OSError) -> CheckFailed:
    return CheckFailed(
        f"{model.name}: cannot install into {target}: {exc.strerror or exc}",
        hint="check the model's `path` in the manifest (or the lock, with --frozen); nothing was changed",
    )


def _remove_dropped(lock: Lockfile, lock_path: Path, store: Store, project_dir: Path, *, act: bool) -> list[ModelSync]:
    """Models installed by earlier syncs of this lock and gone from it: removed if modellock owns them."""
    from filelock import FileLock

    previous = store.read_installs(lock_path)
    # Absolute: the same project is reached as `.`, `../..` or `/srv/app` depending on where a command
    # runs, and a target recorded one way must not look like a superseded snapshot when read another.
    current = {m.name: os.path.abspath(target_of(m, project_dir)) for m in lock.models}
    removed = []
    for name, recorded in sorted(previous.items()):
        where = os.path.abspath(recorded)
        target = Path(where)
        if act:
            recover(target)
        state = read_state(target)
        # An hf-cache snapshot the model has moved on from goes too: with it there, an explicit old
        # `revision=` would still load bytes the lock no longer vouches for (a base the adapter was not locked with).
        superseded = name in current and where not in current.values() and is_snapshot(target)
        if (name in current and not superseded) or state is None or state.name != name:
            continue  # still locked, already gone, or no longer ours: never delete what we do not own
        if act:
            with FileLock(str(store.target_lock(target))):
                remove_installed(target)
        why = "an older snapshot of a locked model" if superseded else "no longer in the lock"
        removed.append(ModelSync(name, state.commit, where, "remove", why, len(state.files), 0))
    if act:
        store.write_installs(lock_path, current)
    return removed


def sync_lock(
    lock: Lockfile,
    project_dir: Path,
    store: Store,
    *,
    models: Collection[str] = (),
    offline: bool = False,
    dry_run: bool = False,
    check: bool = False,
    inexact: bool = False,
    force: bool = False,
    reinstall: bool = False,
    link_mode: LinkMode | None = None,
    endpoint: str | None = None,
    s3_endpoint: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    source_factory: Callable[[str], Source] | None = None,
    trust: TrustSource | None = None,
    cert_roots: Mapping[str, bytes] | None = None,
    lock_path: Path | None = None,
) -> SyncResult:
    """Install every selected locked model; if anything fails before commit, no target changes.

    With `lock_path`, models an earlier sync of that lock installed and the lock no longer has are
    removed from their (owned) directories, as `uv sync` removes packages.
    """
    with store.held():  # `cache prune` waits until the blobs fetched here are in a registered lock
        from filelock import FileLock

        started = time.monotonic()
        unknown = sorted(set(models) - set(lock.names()))
        if unknown:
            raise UsageError(f"--model names a model not in the lock: {', '.join(unknown)}")
        # Parents before dependants: a base is in place before anything that loads it.
        wanted = with_ancestors(lock.models, models)  # `--model lora` brings its bases along
        chosen = [m for m in parents_first(lock.models) if not models or m.name in wanted]
        changes = not (dry_run or check)
        clash = claims_problem((model_claim(m) for m in lock.models), project_dir)
        if clash is not None:
            raise UnsafePath(f"refusing the lock: model `{clash[0]}` cannot be installed: {clash[1]}")
        contradictions = [
            f"{m.name}: {why}" for m in lock.models if (why := requested_commit_problem(m.requested, m.commit))
        ]
        if contradictions:
            raise CheckFailed(
                "refusing the lock: " + "; ".join(contradictions),
                hint="the lock was edited or forged; nothing was installed (`modellock lock` resolves it again)",
            )
        stale = edge_problems(lock.models)
        if stale:
            raise CheckFailed(
                "refusing the lock: " + "; ".join(message for _, message in stale),
                hint="an adapter is only as good as the base it was locked with; nothing was installed",
            )
        bases = hf_cache_bases(lock.models)

        plans: list[tuple[LockedModel, Path, str | None]] = []
        for model in chosen:
            target = target_of(model, project_dir)
            try:
                if changes:
                    recover(target)
                _check_ownership(model, target, force, project_dir, model.name in bases)
                reason = _drift(model, target, inexact, model.name in bases)
            except OSError as exc:  # a path through a file, /proc, a name too long: the model's path is wrong
                raise _cannot_install(model, target, exc) from None
            plans.append((model, target, "reinstall requested" if reinstall and reason is None else reason))
        pending = [m for m, _, reason in plans if reason is not None]

        # Prepare: every blob the plan needs is in the store and verified, before any target changes.
        downloaded = 0
        missing = _ensure_blobs(store, pending, deep=reinstall) if changes else []
        if missing and offline:
            names = "\n".join(f"  {m.name}: {f.path} ({f.blake3[:12]}…)" for m, f in missing)
            raise CheckFailed(
                f"--offline: {len(missing)} file{'s are' if len(missing) > 1 else ' is'} not in the store:\n{names}",
                hint="run `modellock sync` with network access once",
            )
        if missing:
            from modellock.ops.fetch import DEFAULT_WORKERS, FetchJob, fetch_all
            from modellock.sources import RemoteFile, RepoRef, open_source

            factory = source_factory or (
                lambda name: open_source(name, endpoint=endpoint, project_dir=project_dir, s3_endpoint=s3_endpoint)
            )
            jobs = []
            for m, f in missing:
                # The lock's digests are stricter than anything the Hub lists, so they are the expectation.
                # The source needs path and size; a registry or OCI layout finds the bytes by the SHA-256.
                remote = RemoteFile(f.path, f.size, "", f.sha256, version_id=f.version_id, etag=f.etag)
                jobs.append((m.source, FetchJob(RepoRef(m.repo, m.repo_type), m.commit, remote, locked=f)))
            for name in sorted({s for s, _ in jobs}):
                group = [j for s, j in jobs if s == name]
                fetched = fetch_all(factory(name), store, group, workers=workers or DEFAULT_WORKERS, progress=progress)
                downloaded += sum(d.size for d in fetched)

        # The safety gate again, on the exact bytes about to be installed. With a manifest, `check_lock`
        # proved the lock's policy is the manifest's; under --frozen the lock is the policy.
        verified = 0
        if changes:
            for model in pending:
                scans = gate_files(model.name, model.policy, [(f.path, store.blob_path(f.blake3)) for f in model.files])
                refuse_misrecorded(model, scans)  # what show and the BOMs say of these files is true of them
                if model.signature is not None:
                    from modellock.ops.signatures import TrustSource, attest_for_sync

                    roots = (cert_roots or {}).get(model.name)
                    attest_for_sync(model, store, trust or TrustSource(None, online=False), project_dir, roots)
                    verified += 1

        # Commit: one model at a time, each swapped in atomically, under a lock per target.
        linker = Linker(link_mode)
        results = []
        staged = _stage(plans) if changes else {}
        try:
            for model, target, reason in plans:
                dropped = _dropped(model, target, inexact) if reason is not None else ()
                if reason is not None and changes:
                    with FileLock(str(store.target_lock(target))):
                        if not reinstall:
                            # another sync may have finished it meanwhile
                            reason = _drift(model, target, inexact, model.name in bases)
                        dropped = _dropped(model, target, inexact) if reason is not None else ()
                        if reason is not None:
                            _build(model, store, target, staged[model.name], linker, inexact, model.name in bases)
                results.append(_synced(model, target, reason, dropped))
        finally:
            for path in staged.values():
                remove_tree(path)  # a swapped-in tree is no longer there; anything else was never used
        if lock_path is not None and not models:
            results += _remove_dropped(lock, lock_path, store, project_dir, act=changes)
        return SyncResult(
            models=tuple(results),
            downloaded_files=len(missing),
            downloaded_bytes=downloaded,
            link_mode=linker.mode.value if linker.mode else None,
            warnings=(linker.warning,) if linker.warning else (),
            dry_run=dry_run,
            check=check,
            elapsed=time.monotonic() - started,
            signatures_verified=verified,
            trust_root=trust.root.source if trust is not None and trust.root is not None else None,
        )
