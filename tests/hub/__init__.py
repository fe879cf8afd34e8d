"""A local Hugging Face Hub emulator that the real huggingface_hub client talks to over HTTP."""

from tests.hub.server import FakeHub, Faults, Repo

__all__ = ["FakeHub", "Faults", "Repo"]
