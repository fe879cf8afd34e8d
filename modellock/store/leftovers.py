"""Files and directories named after the process writing them, so a later run can tell a dead writer's."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def writer_pid(name: str, prefix: str) -> int | None:
    """The pid in `<prefix><pid>-…`, or None if `name` is not such a name."""
    if not name.startswith(prefix):
        return None
    pid = name[len(prefix) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def left_by_dead_writer(name: str, prefix: str) -> bool:
    """`name` is `<prefix><pid>-…` and that pid is neither this process nor a running one."""
    pid = writer_pid(name, prefix)
    return pid is not None and pid != os.getpid() and not pid_alive(pid)
