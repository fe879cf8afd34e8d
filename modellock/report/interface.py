"""Every output a command has, behind one interface: a `Renderer` per format, chosen by name.

A command builds its result, then `Formats.render(--format, result, console)`: text (`Lines`, or the
console's own methods through `Call`), JSON (`Json` over a builder in `json_docs.py`/`json_more.py`, or
over a `Document`). `Document` is a machine-readable format with a name of its own: SARIF (`sarif.py`),
the plain JSON of a scan (`scan_json.py`), the audit's (`audit.py`). Each command's table of formats is
in `views.py`, built when the command runs so `--help` imports none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

R = TypeVar("R")


class Document(ABC, Generic[R]):
    """One output format for results of type `R`."""

    name: ClassVar[str]
    """The value of `--format` that selects it."""

    @abstractmethod
    def build(self, result: R) -> dict[str, Any]:
        """The document, as JSON-serialisable data; the same result gives the same document."""


class Output(Protocol):
    """Where a renderer writes: `report.console.Console` (stdout for results, stderr for messages)."""

    def line(self, text: str = "") -> None: ...

    def json(self, data: Any) -> None: ...


class Renderer(ABC, Generic[R]):
    """One way to show results of type `R`: text, JSON or a document format (SARIF, CycloneDX, SPDX)."""

    @abstractmethod
    def render(self, result: R, out: Output) -> None:
        """Write `result` to `out`."""


class Lines(Renderer[R]):
    """Text: the lines a function makes of the result."""

    def __init__(self, lines: Callable[[R], Iterable[str]]) -> None:
        self.lines = lines

    def render(self, result: R, out: Output) -> None:
        for line in self.lines(result):
            out.line(line)


class Json(Renderer[R]):
    """One JSON document built from the result (the `report/json_*.py` builders, or a `Document`)."""

    def __init__(self, build: Callable[[R], dict[str, Any]] | Document[R]) -> None:
        self.build = build.build if isinstance(build, Document) else build

    def render(self, result: R, out: Output) -> None:
        out.json(self.build(result))


class Call(Renderer[R]):
    """Text written by a function given the output itself (the console's own result methods)."""

    def __init__(self, write: Callable[[R, Any], None]) -> None:
        self.write = write

    def render(self, result: R, out: Output) -> None:
        self.write(result, out)


class Formats(Generic[R]):
    """A command's renderers by `--format` name: the command renders through this, never by `if`."""

    def __init__(self, **renderers: Renderer[R]) -> None:
        self.renderers = renderers

    def render(self, format_name: str, result: R, out: Output) -> None:
        renderer = self.renderers.get(format_name)
        if renderer is None:
            from modellock.errors import UsageError

            raise UsageError(
                f"no {format_name!r} output here", hint=f"--format is one of {', '.join(self.renderers)}"
            )
        renderer.render(result, out)
