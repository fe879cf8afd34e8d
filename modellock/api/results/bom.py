"""`Project.export()`: an AI-BOM document."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bom:
    """`Project.export()`: an AI-BOM document."""

    text: str
    format: str
    models: int
    """How many locked models it describes."""
