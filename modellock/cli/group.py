"""The root command group: global options anywhere on the line, and Click's errors in modellock's style.

`modellock lock --quiet` and `modellock --quiet lock` mean the same, as in uv and git (pre-commit
hooks append their `args` after the subcommand). Click only accepts a group's options before the
subcommand, so they are moved there before parsing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from typer import Abort
from typer.core import TyperGroup, TyperOption

from modellock.compat import typer_internals
from modellock.errors import USAGE

# typer's vendored Click, reached through the version check (refused outside the tested typer releases).
_typer = typer_internals()
ClickException = _typer.ClickException
NoArgsIsHelpError = _typer.NoArgsIsHelpError
UsageError = _typer.UsageError


def _own_options(command: Any) -> Iterator[tuple[str, bool]]:
    """(option string, whether it takes a value) for `command`'s own options."""
    for param in command.params:
        if isinstance(param, TyperOption):
            takes_value = not param.is_flag and not param.count
            for name in (*param.opts, *param.secondary_opts):
                yield name, takes_value


def _option_strings(command: Any) -> Iterator[tuple[str, bool]]:
    """The same for `command` and every subcommand below it."""
    yield from _own_options(command)
    for sub in getattr(command, "commands", {}).values():
        yield from _option_strings(sub)


def hoist_globals(group: Any, args: Sequence[str]) -> list[str]:
    """`args` with the group's own options (and their values) moved in front of the subcommand."""
    own = {name: takes for name, takes in _own_options(group) if name not in ("-h", "--help")}
    valued = {name for name, takes in _option_strings(group) if takes}
    front: list[str] = []
    rest: list[str] = []
    seen_command = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        width = 2 if (name in valued or own.get(name)) and "=" not in arg and i + 1 < len(args) else 1
        if seen_command and name in own:
            front.extend(args[i : i + width])
        else:
            rest.extend(args[i : i + width])
            if not arg.startswith("-"):
                seen_command = True
        i += width
    return front + rest


def _argument_metavar(param: Any, ctx: Any, *, usage: bool = False) -> str:
    """`REPO`, `[FILES]...`: typer's own (`{repo}`) reads like a set."""
    var = str(param.metavar) + ("..." if param.nargs != 1 else "")
    return f"[{var}]" if usage and not param.required else var


def readable_metavars(command: Any) -> None:
    """Name each value after its parameter (`--name NAME`, `--trusted-root TRUSTED_ROOT`) instead of its
    type (`<str>`, `<path>`); a fixed set of choices keeps typer's `<dir|hf-cache>`.

    Typer has no setting for this: the arguments' `make_metavar` is replaced per instance (typer 0.26-0.28,
    pinned in pyproject; tests/test_cli_habits.py reads `--help` to catch a change)."""
    import types

    from typer.core import TyperArgument

    TyperChoice = _typer.TyperChoice

    for param in getattr(command, "params", ()):
        if param.metavar is not None or isinstance(param.type, TyperChoice) or not param.name:
            continue
        if isinstance(param, TyperArgument):
            param.metavar = param.name.upper()
            param.make_metavar = types.MethodType(_argument_metavar, param)  # type: ignore[method-assign]
        elif isinstance(param, TyperOption) and not param.is_flag and not param.count:
            param.metavar = param.name.upper()
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)


def _wants_json(args: Sequence[str]) -> bool:
    return any(
        a == "--format=json" or (a == "--format" and b == "json") for a, b in zip(args, [*args[1:], ""], strict=True)
    )


class ModellockGroup(TyperGroup):
    """Typer's group, with global options accepted after the subcommand and uv-style usage errors."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_globals(self, args))  # type: ignore[no-any-return]

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        readable_metavars(self)
        if "_MODELLOCK_COMPLETE" in os.environ:  # the shell asks for completions (`modellock completion SHELL`)
            _typer.completion_init()
        try:
            code = super().main(
                argv,
                prog_name,
                complete_var or "_MODELLOCK_COMPLETE",  # the same whether run as `modellock` or `python -m`
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except NoArgsIsHelpError as exc:
            print(exc.ctx.get_help() if exc.ctx is not None else "", file=sys.stderr)
            sys.exit(USAGE)
        except UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "modellock"
            message = exc.format_message()
            print(f"error: {message}", file=sys.stderr)
            print(f"hint: see `{command} --help`", file=sys.stderr)
            if _wants_json(argv):
                import json

                from modellock.report.json_docs import usage_failure

                name = exc.ctx.command.name if exc.ctx is not None and exc.ctx.command.name else "modellock"
                print(json.dumps(usage_failure(name, message, f"see `{command} --help`", USAGE), indent=2))
            sys.exit(USAGE)
        except ClickException as exc:
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except Abort:
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)
