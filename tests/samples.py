"""Builders for small, well-formed model files used across the tests."""

from __future__ import annotations

import json
import struct


def safetensors(tensors: dict[str, tuple[str, list[int], bytes]], metadata: dict[str, str] | None = None) -> bytes:
    """A valid safetensors file: 8-byte header length, JSON header, contiguous tensor data."""
    header: dict[str, object] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def weights(payload: bytes) -> bytes:
    """`payload` as the single U8 tensor of a safetensors file."""
    return safetensors({"w": ("U8", [len(payload)], payload)})
