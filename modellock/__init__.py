"""modellock: lock files for AI model weights."""

__version__ = "0.1.0"
