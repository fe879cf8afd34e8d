"""numpy arrays inside files: `.npy` headers and joblib's array buffers, checked as plain bytes.

An array's body is never sniffed: it must be exactly shape x itemsize bytes. Only an object
array's body is a pickle (loaded by `np.load(allow_pickle=True)` or `joblib.load`), and that
pickle is walked like any other.
"""

from __future__ import annotations

import ast
import re
import struct
from typing import Any

from modellock.gate.buffer import Window
from modellock.gate.pickle_walk import Dict, Global, Obj, PickleInvalid, Seq, Walker

_SIMPLE = re.compile(r"^[<>|=]?([bBiufcmMSUVO?])(\d*)(?:\[[A-Za-z0-9]+\])?\Z")
_WRAPPER = Global("joblib.numpy_pickle", "NumpyArrayWrapper")
_RECONSTRUCTOR = Global("copyreg", "_reconstructor")
_DTYPE = (Global("numpy", "dtype"),)


def itemsize(descr: Any) -> int | None:
    """Bytes per element of an `.npy` descr; None for object dtypes or descrs numpy does not write."""
    if isinstance(descr, str):
        match = _SIMPLE.match(descr)
        if match is None or match.group(1) == "O":
            return None
        width = int(match.group(2) or (1 if match.group(1) in "b?B" else 0))
        if match.group(1) in "bB?" and not match.group(2):
            width = 1
        return width * 4 if match.group(1) == "U" else width
    if isinstance(descr, list):
        total = 0
        for fieldspec in descr:
            if not isinstance(fieldspec, tuple) or len(fieldspec) not in (2, 3):
                return None
            size = itemsize(fieldspec[1])
            if size is None:
                return None
            count = 1
            for d in fieldspec[2] if len(fieldspec) == 3 else ():
                count *= d if isinstance(d, int) and d >= 0 else -(1 << 62)
            total += size * count
        return total if total >= 0 else None
    return None


def has_objects(descr: Any) -> bool:
    if isinstance(descr, str):
        return "O" in descr
    if isinstance(descr, list):
        return any(not isinstance(f, tuple) or len(f) < 2 or has_objects(f[1]) for f in descr)
    return True  # not a dtype numpy writes: treat as unknown


def npy_header(data: Window) -> tuple[dict[str, Any], int]:
    """The `.npy` header dict, parsed as a literal (never evaluated), and where the array data starts."""
    head = data.read(0, 12)
    if len(head) < 10:
        raise ValueError("truncated header")
    major = head[6]
    if major == 1:
        length, start = int(struct.unpack_from("<H", head, 8)[0]), 10
    elif major in (2, 3) and len(head) == 12:
        length, start = int(struct.unpack_from("<I", head, 8)[0]), 12
    else:
        raise ValueError(f"unknown .npy version {major}")
    if start + length > len(data) or length > 1 << 20:
        raise ValueError("header runs past the end of the file")
    text = data.read(start, length).decode("utf-8" if major == 3 else "latin1")
    header = ast.literal_eval(text)
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise ValueError("header is not a dict with descr, fortran_order and shape")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError("shape is not a tuple of sizes")
    return header, start + length


def elements(shape: tuple[int, ...] | list[int]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def joblib_build(w: Walker, obj: Obj, at: int) -> None:
    """After BUILD of a NumpyArrayWrapper, joblib reads the array from the stream: skip exactly it.

    joblib >= 1.2 writes a padding-length byte (1-16) first. That byte is no pickle opcode, so a
    plain `pickle.load` of the same file stops there: both readings see the same imports.
    """
    if obj.cls != _WRAPPER and not _reconstructed_wrapper(obj):
        return
    state = dict(obj.state.pairs) if isinstance(obj.state, Dict) else {}
    shape, dtype = state.get("shape"), state.get("dtype")
    dims = [d for d in shape.items if isinstance(d, int)] if isinstance(shape, Seq) else None
    if dims is None or len(dims) != len(shape.items if isinstance(shape, Seq) else ()) or not isinstance(dtype, Obj):
        raise w.fail("a joblib array whose shape or dtype is not literal", "differential")
    args = dtype.args.items if isinstance(dtype.args, Seq) else []
    code = args[0] if args and isinstance(args[0], str) else ""
    if (dtype.cls,) != _DTYPE or not code:
        raise w.fail("a joblib array whose dtype is not a numpy dtype", "differential")
    if code.startswith("O"):
        nested = Walker(_window(w), w.pos - w.base, joblib_build)
        try:
            part = nested.run()
        finally:
            w.result.imports += nested.result.imports
            w.result.calls += nested.result.calls
        w.pos = w.base + part.end
        return
    if "numpy_array_alignment_bytes" not in state:
        raise w.fail("a joblib < 1.2 array (no alignment byte): pickle.load would read its bytes as opcodes")
    alignment = state["numpy_array_alignment_bytes"]
    if not isinstance(alignment, int) or isinstance(alignment, bool):
        # joblib writes no padding byte when its file cannot tell() (a pipe), and reads none back:
        # the array starts at once, and pickle.load would read its bytes as opcodes.
        raise w.fail(
            "a joblib array written without its alignment byte: pickle.load would read its bytes as opcodes",
            "differential",
        )
    dstate = dtype.state.items if isinstance(dtype.state, Seq) else []
    size = itemsize(code)
    if code.lstrip("<>|=")[:1] in ("S", "a", "U", "V"):
        # numpy takes a flexible dtype's size from the pickled state, and ignores it for every other
        # kind (a state saying 4 bytes for `f8` still reads 8): skip what joblib will read.
        elsize = dstate[5] if len(dstate) > 5 else None
        if not isinstance(elsize, int) or isinstance(elsize, bool) or elsize < 0:
            raise w.fail(f"a joblib array of dtype {code!r} with no usable item size", "differential")
        size = elsize
    elif not size:
        raise w.fail(f"a joblib array of unknown dtype {code!r}", "differential")
    pad = w.buf[w.pos] if w.pos < w.end else 0xFF
    if pad > 16:  # joblib pads 1-16 bytes (16 when the array would start aligned); none of 0-16 is an opcode
        raise w.fail("a joblib array without its alignment byte", "differential")
    w.skip(1 + pad + elements(dims) * size)


def _reconstructed_wrapper(obj: Obj) -> bool:
    """Pickle protocols 0 and 1 build the wrapper through `copyreg._reconstructor(cls, object, None)`;
    joblib's unpickler reads the array after its BUILD all the same."""
    args = obj.args.items if isinstance(obj.args, Seq) else []
    return obj.cls == _RECONSTRUCTOR and bool(args) and args[0] == _WRAPPER


def _window(w: Walker) -> Window:
    return Window(w.buf, w.base, w.end)


__all__ = ["PickleInvalid", "elements", "has_objects", "itemsize", "joblib_build", "npy_header"]
