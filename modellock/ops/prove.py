"""`modellock lock --check --remote`: prove the lock against the Hub without downloading weights.

The offline seal shows a lock is whole; only the source can show it is true. For every model this
asks the source whether the locked commit exists, whether the requested ref leads to it (a tag
points at exactly it, a branch has it in its history, a pull-request ref only when the manifest
asks for that PR, a commit named by hash only when a branch or tag has it), and whether the
listing at that commit is the lock's: paths, sizes, LFS SHA-256, the Hub's scans as recorded, and
for regular (non-LFS) files, which are small by the Hub's rules, their bytes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from modellock.errors import ModellockError
from modellock.ops.check import CheckResult, Problem
from modellock.ops.fetch import FetchJob, check_bytes
from modellock.ops.reach import by_hash, reach, requested_commit_problem, unpublished_reason
from modellock.ops.signatures import DEFAULT_SIGNATURE
from modellock.project.card import from_card_data
from modellock.project.lockfile import LockedFile, LockedModel, Lockfile
from modellock.project.manifest import Manifest
from modellock.project.paths import select
from modellock.sources import Refs, RemoteFile, RepoRef, Source, open_source
from modellock.sources.pinned import PinnedSource
from modellock.store.hashing import StreamHasher

_COMMIT = re.compile(r"^[0-9a-f]{40}\Z")


class _HashingTarget:
    """Bytes of a regular file, fetched in order over one connection, hashed and dropped: nothing is written."""

    def __init__(self, size: int) -> None:
        self.hasher = StreamHasher(git_blob_size=size)

    def present(self) -> list[tuple[int, int]]:
        return []

    def write_at(self, offset: int, chunk: bytes | memoryview) -> None:
        if offset != self.hasher.size:
            raise AssertionError(f"bytes at {offset} while {self.hasher.size} were hashed: one connection keeps order")
        self.hasher.update(chunk)

    def restart(self) -> None:
        self.hasher.reset()

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)  # one file at a time on the main thread: Ctrl-C interrupts the sleep itself


def _fetch_and_check(source: Source, job: FetchJob) -> tuple[int, str | None]:
    """Bytes read, and why they are not the lock's and the Hub's (None if they are)."""
    target = _HashingTarget(job.file.size)
    source.fetch(job.ref, job.commit, job.file, target, connections=1)
    digest = target.hasher.digest()
    problem = check_bytes(job, digest, target.hasher.git_sha1())
    return digest.size, problem.message if problem is not None else None


def _ref_problems(source: Source, ref: RepoRef, model: LockedModel, refs: Refs) -> list[str]:
    """Does the requested ref lead to the locked commit, the way the manifest asked for it?"""
    requested, commit = model.requested, model.commit
    if _COMMIT.match(requested) and requested != commit:
        return [requested_commit_problem(requested, commit) or ""]
    if by_hash(requested, commit, refs):  # the full hash, or a prefix the Hub resolved
        why = unpublished_reason(model.repo, commit, reach(source, ref, commit, refs))
        return [why] if why is not None else []
    if requested.startswith("refs/pr/"):
        if requested not in refs.pull_requests:
            return [f"{requested} does not exist"]
        return (
            [] if commit in source.history(ref, requested) else [f"{commit[:7]} is not in the history of {requested}"]
        )
    if requested in refs.branches:
        if commit in source.history(ref, requested):
            return []
        prs = sorted(pr for pr in refs.pull_requests if commit in source.history(ref, pr))
        if prs:
            return [
                f"{commit[:7]} is reachable only from {', '.join(prs)}, not from branch {requested} "
                "(anyone can open a pull request on the Hub)"
            ]
        return [f"{commit[:7]} is not in the history of branch {requested}"]
    if requested in refs.tags:
        target = refs.tags[requested]
        return [] if target == commit else [f"tag {requested} points at {target[:7]}, the lock says {commit[:7]}"]
    return [f"{requested} is neither a branch, a tag nor a pull request of {model.repo} any more"]


def scan_problems(model: LockedModel, listed: Mapping[str, RemoteFile], allowed: Collection[str] | None) -> list[str]:
    """The lock's record of the Hub's scans against the Hub's answer now, and flags `lock` would have refused.

    An empty record claims nothing (a lock made `--offline`). `allowed` is the manifest's
    `hub-scan-allow` (None without a manifest: then no flag is checked, only records).
    """
    found = []
    for f in model.files:
        remote = listed.get(f.path)
        if remote is None:
            continue  # reported as missing by the listing check
        now = remote.hub_scan.render() if remote.hub_scan is not None else "none"
        if f.hub_scan and f.hub_scan != now:
            found.append(
                f"{f.path}: the lock records the Hub's scan as `{f.hub_scan}`, the Hub says `{now}` "
                f"(if the Hub re-scanned, `modellock audit` shows the change and "
                f"`modellock lock --upgrade-model {model.name}` records it)"
            )
        if allowed is not None and remote.hub_scan is not None and remote.hub_scan.refused and f.path not in allowed:
            found.append(
                f"{f.path}: the Hub's own scan flags it (`{now}`) and the manifest's hub-scan-allow does not name it"
            )
    return found


def _listing_problems(
    source: Source,
    ref: RepoRef,
    model: LockedModel,
    selects: Callable[[list[str]], list[str]] | None,
    signature: str | None,
    allowed: Collection[str] | None = None,
) -> tuple[list[str], int]:
    """Differences between the source's listing at the commit and the lock; and bytes read to find them."""
    # The Hub's scans cost a slower listing: asked for only when the lock records some, or the manifest may allow flags.
    scans = any(f.hub_scan for f in model.files) or allowed is not None
    listed = {f.path: f for f in source.list_files(ref, model.commit, scans=scans)}
    expected: list[LockedFile] = list(model.files)
    if model.signature is not None:
        s = model.signature
        expected.append(LockedFile(s.path, s.size, s.blake3, s.sha256))
    problems, read = [], 0
    for locked in expected:
        remote = listed.get(locked.path)
        if remote is None:
            problems.append(f"{locked.path} is not in the repository at {model.commit[:7]}")
        elif remote.size != locked.size:
            problems.append(f"{locked.path} is {remote.size} bytes at {model.commit[:7]}, the lock says {locked.size}")
        elif remote.lfs_sha256 is not None:
            if remote.lfs_sha256 != locked.sha256:
                problems.append(
                    f"{locked.path}: the Hub's LFS SHA-256 is {remote.lfs_sha256}, the lock says {locked.sha256}"
                )
        else:
            n, problem = _fetch_and_check(source, FetchJob(ref, model.commit, remote, locked=locked))
            read += n
            if problem is not None:
                problems.append(problem)
    if scans:
        problems.extend(scan_problems(model, listed, allowed))
    if model.signature is None and signature is not None and signature in listed:
        problems.append(f"the repository has {signature} at {model.commit[:7]}, but the lock records no signature")
    if selects is not None:
        selected = set(selects(sorted(listed)))
        locked_paths = {f.path for f in model.files}
        for path in sorted(selected - locked_paths):
            problems.append(f"the manifest selects {path} at {model.commit[:7]}, but the lock does not list it")
        for path in sorted(locked_paths - selected):
            problems.append(f"the lock lists {path}, which the manifest's include/exclude does not select")
    return problems, read


def card_problem(source: Source, ref: RepoRef, model: LockedModel) -> str | None:
    """The card facts the lock records (licence, task, datasets) against the card at the commit, which
    cannot change. No record claims nothing (`bases = "ignore"`, a dataset, a card without facts)."""
    if model.card is None or model.repo_type != "model":
        return None
    now = from_card_data(source.lineage(ref, model.commit).card)
    if now == model.card:
        return None
    said = now.canonical().removeprefix("card = ").strip() if now is not None else "nothing"
    return f"the lock records {model.card.canonical().strip()}, the model card at {model.commit[:7]} says {said}"


@dataclass(frozen=True)
class ProofResult:
    """What the source said about every locked model."""

    check: CheckResult
    bytes_read: int
    """Bytes of small regular files downloaded to compare (weights are compared by LFS SHA-256)."""
    asked: tuple[str, ...]
    """Where the proof came from (the Hub endpoints asked)."""


def prove_lock(
    lock: Lockfile, manifest: Manifest | None, *, source_factory: Callable[[str], Source] | None = None
) -> ProofResult:
    """Ask each model's source whether the lock is true; every difference is a problem (exit 1).

    The manifest's `[settings] endpoint` is not used: a pull request can change it, and a proof
    asked of a server the pull request names proves nothing (and would send it the CI's token).
    The endpoint is `HF_ENDPOINT` or the Hub's default, set by whoever runs the check.
    """
    sources: dict[str, Source] = {}
    # A local model's directory is the project's; an S3 endpoint only AWS's own settings name (not the manifest's).
    where = manifest.path.parent if manifest is not None else None
    factory = source_factory or (lambda name: open_source(name, project_dir=where))
    problems: list[Problem] = []
    read = 0
    for model in lock.models:
        source = sources.setdefault(model.source, factory(model.source))
        ref = RepoRef(model.repo, model.repo_type)
        spec = manifest.models.get(model.name) if manifest is not None else None
        selects = (lambda paths, s=spec: select(paths, s.include, s.exclude)) if spec is not None else None
        if isinstance(source, PinnedSource):  # no refs to follow: each file against its own pin
            proof = source.prove(model, selects)
            read += proof.bytes_read
            problems.extend(Problem(model.name, why) for why in proof.problems)
            continue
        try:
            source.resolve(ref, model.commit)
            found = _ref_problems(source, ref, model, source.refs(ref))
            configured = spec.signature.path if spec is not None and spec.signature is not None else None
            allowed = spec.hub_scan_allow if spec is not None else None
            listing, n = _listing_problems(source, ref, model, selects, configured or DEFAULT_SIGNATURE, allowed)
        except ModellockError as exc:
            problems.append(Problem(model.name, exc.message))
            continue
        try:
            card = card_problem(source, ref, model)
        except ModellockError as exc:
            card = f"cannot read the model card at {model.commit[:7]}: {exc.message}"
        read += n
        problems.extend(Problem(model.name, why) for why in (*found, *listing, *([card] if card else [])))
    files = sum(len(m.files) for m in lock.models)
    asked = tuple(sorted({s.location for s in sources.values()}))
    return ProofResult(CheckResult(tuple(problems), len(lock.models), files, lock), read, asked)
