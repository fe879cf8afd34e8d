"""The one way bytes come over HTTP: ranged, parallel, resumable, with deadlines (docs/architecture.md)."""

from modellock.download.engine import fetch
from modellock.download.location import Location, Target

__all__ = ["Location", "Target", "fetch"]
