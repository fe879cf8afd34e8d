"""Machine-readable documents built from an operation's result: one interface, one module per format.

A command picks a `Document` by its `--format` name and prints what `build` returns as JSON. SARIF
(`sarif.py`) and the plain JSON of a scan (`scan_json.py`) implement it; the AI-BOM formats are
the next ones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

R = TypeVar("R")


class Document(ABC, Generic[R]):
    """One output format for results of type `R`."""

    name: ClassVar[str]
    """The value of `--format` that selects it."""

    @abstractmethod
    def build(self, result: R) -> dict[str, Any]:
        """The document, as JSON-serialisable data; the same result gives the same document."""
