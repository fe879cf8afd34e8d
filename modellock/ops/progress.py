"""How long-running operations report progress without knowing who, if anyone, is watching."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives byte counts as files download or hash; the face draws them, tests ignore them."""

    def begin(self, label: str, total_bytes: int, total_files: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def file_done(self) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """Progress that goes nowhere."""

    def begin(self, label: str, total_bytes: int, total_files: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def end(self) -> None:
        pass
