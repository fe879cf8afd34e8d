"""`completion bash|zsh|fish`: the script that makes a shell complete modellock's commands and options.

The shell later runs `modellock` with `_MODELLOCK_COMPLETE` set; `group.py` answers that before parsing.
Typer's own `--install-completion` edits rc files; printing the script leaves that to the user, as
`uv generate-shell-completion` and `hf` do.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from modellock.cli.base import app, command

COMPLETE_VAR = "_MODELLOCK_COMPLETE"


class Shell(str, enum.Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


@command
def completion(shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", show_default=False)]) -> None:
    """Print the shell's completion script (bash: `eval "$(modellock completion bash)"` in ~/.bashrc)."""
    from modellock.compat import typer_internals

    internals = typer_internals()
    script = internals.get_completion_script(prog_name="modellock", complete_var=COMPLETE_VAR, shell=shell.value)
    typer.echo(script)


def register() -> None:
    """Registered last, so `--help` lists it after the commands people came for."""
    app.command()(completion)
