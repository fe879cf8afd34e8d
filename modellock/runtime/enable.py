"""`guard()`: the lock in force inside this process, for code that loads models without `modellock run`."""

from __future__ import annotations

from pathlib import Path

from modellock.runtime.hooks import Table, install_when_imported


def guard_table_for(project_dir: Path) -> Table:
    """The table of the project's sealed lock, with the manifest's `unlocked-repos` if it has one."""
    from modellock.ops.context import manifest_if_any, read_lock_to_use
    from modellock.project.discover import LOCK_NAME, MANIFEST_NAME
    from modellock.runtime.table import guard_table

    lock_path = project_dir / LOCK_NAME
    lock = read_lock_to_use(lock_path)
    manifest = manifest_if_any(project_dir / MANIFEST_NAME)
    unlocked = manifest.settings.unlocked_repos if manifest is not None else ()
    return guard_table(lock, project_dir, lock_path, unlocked)


def guard(project: str | Path | None = None) -> None:
    """Resolve every Hugging Face repository id in this process to its locked commit and installed tree.

    `project`: the directory holding modellock.lock; default: the nearest upwards from the working
    directory. It does not check the trees (`modellock status` or `run` does) and does not switch
    huggingface_hub offline (set HF_HUB_OFFLINE=1 before importing it, as `run` does): for a locked
    repository it never downloads anyway; a repository the lock does not hold is refused unless
    `[settings] unlocked-repos` names it.
    """
    from modellock.project.discover import find_project

    directory = Path(project) if project is not None else find_project(Path("."))
    install_when_imported(guard_table_for(directory))
