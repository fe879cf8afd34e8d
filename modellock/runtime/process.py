"""Start the command and stand aside: signals reach it once, its exit status is ours.

Ctrl-C at a terminal reaches the whole foreground process group, so the command already has it; a
`kill` aimed at modellock (a container runtime's SIGTERM to PID 1) reaches only us and is passed on.
On Linux `sigtimedwait` tells the two apart (`si_code` SI_KERNEL for the terminal, SI_USER/SI_QUEUE
for `kill`); elsewhere every signal is passed on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

FORWARDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    if hasattr(signal, name)
)
_SI_KERNEL = 0x80
"""`si_code` of a signal the kernel sent on a terminal's behalf (Linux's include/uapi/asm-generic/siginfo.h)."""


class CommandNotStarted(Exception):
    """The command could not be executed; `exit_code` is the shell's (127 not found, 126 not executable)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_status(returncode: int) -> int:
    """A child's `returncode` as a shell reports it: a death by signal N is 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def should_forward(si_code: int, from_terminal_reaches_child: bool) -> bool:
    """A signal the terminal sent reached the command too (same process group): forwarding doubles it."""
    return not (si_code == _SI_KERNEL and from_terminal_reaches_child)


def _start(argv: Sequence[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(argv), env=dict(env), **kwargs)
    except FileNotFoundError:
        raise CommandNotStarted(f"command not found: {argv[0]}", 127) from None
    except PermissionError:
        raise CommandNotStarted(f"permission denied: {argv[0]}", 126) from None
    except OSError as exc:
        raise CommandNotStarted(f"cannot execute {argv[0]}: {exc.strerror}", 126) from None


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run `argv` with `env`, passing signals on; return its exit status (128+N for a signal)."""
    if not hasattr(signal, "sigtimedwait"):  # macOS
        return run_with_handlers(argv, env)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, [*FORWARDED, signal.SIGCHLD])
    try:
        # The child must not inherit our blocked set: it gets the mask we had before.
        child = _start(argv, env, preexec_fn=lambda: _restore(previous))
        shares_group = os.getpgid(child.pid) == os.getpgrp()
        while True:
            info = signal.sigtimedwait([*FORWARDED, signal.SIGCHLD], 0.5)
            code = child.poll()
            if code is not None:
                return exit_status(code)
            if info is None or info.si_signo == signal.SIGCHLD:
                continue
            if should_forward(info.si_code, shares_group):
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    child.send_signal(info.si_signo)
    finally:
        # A signal that came as the command ended was for it: drop it rather than die of it here.
        while signal.sigtimedwait([*FORWARDED, signal.SIGCHLD], 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def run_with_handlers(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Where a signal's origin cannot be read: SIGINT is left to the terminal (the command, in the same
    process group, has it already) and every other signal is passed on."""
    child = _start(argv, env)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, signal.SIG_IGN if s == signal.SIGINT else forward) for s in FORWARDED}
    try:
        return exit_status(child.wait())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _restore(mask: set[int | signal.Signals]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
