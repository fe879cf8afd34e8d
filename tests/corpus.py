"""Hostile and benign model files written byte by byte. Nothing here is ever unpickled or loaded.

Payloads are harmless stand-ins (`echo`), but the imports and call sites are the real ones the
bypass classes in research/scanning.md §5 use, so the scanner sees exactly what an attack looks like.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tarfile
import warnings
import zipfile
import zlib

from tests.samples import safetensors, weights


def bu(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def g(module: str, name: str) -> bytes:
    """GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


CMD = b"U\x08echo pwn"  # SHORT_BINSTRING 'echo pwn'
P2 = b"\x80\x02"
P4 = b"\x80\x04"


def call(module: str, name: str, proto: bytes = P2) -> bytes:
    """module.name('echo pwn') via GLOBAL + REDUCE."""
    return proto + g(module, name) + CMD + b"\x85R."


def stack_global_call(module: str, name: str) -> bytes:
    return P4 + bu(module) + bu(name) + b"\x93" + bu("echo pwn") + b"\x85R."


def zip_bytes(members: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compress) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def torch_zip(pickle: bytes, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    return zip_bytes([("archive/data.pkl", pickle), ("archive/byteorder", b"little"), *(extra or [])])


def npy(descr: str, shape: tuple[int, ...], body: bytes) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * ((64 - (10 + len(header) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def gguf(kvs: list[tuple[str, str]], tensors: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, tensors, len(kvs))
    for key, value in kvs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", 8)
        out += struct.pack("<Q", len(value.encode())) + value.encode()
    return out


def keras(config: object) -> bytes:
    return zip_bytes([("config.json", json.dumps(config).encode()), ("metadata.json", b"{}")])


def onnx_with_location(location: str) -> bytes:
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2]) + _varint(len(payload)) + payload

    entry = field(1, b"location") + field(2, location.encode())
    tensor = field(13, entry) + bytes([14 << 3]) + b"\x01"
    graph = field(5, tensor)
    return field(7, graph)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _flip_zip_flag(data: bytes, flag: int) -> bytes:
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 8 : at + 10] = struct.pack("<H", flag)
    local = out.find(b"PK\x03\x04")
    out[local + 6 : local + 8] = struct.pack("<H", flag)
    return bytes(out)


def _rename_local(data: bytes, old: bytes, new: bytes) -> bytes:
    at = data.find(b"PK\x03\x04")
    name_at = data.find(old, at)
    return data[:name_at] + new + data[name_at + len(new) :]


def _bad_crc(data: bytes) -> bytes:
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 16 : at + 20] = b"\0\0\0\0"
    return bytes(out)


def _duplicate_members(first: bytes, second: bytes) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")  # "Duplicate name": exactly what this sample is for
        archive.writestr("archive/data.pkl", first)
        archive.writestr("archive/data.pkl", second)
    return out.getvalue()


LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
BENIGN_STATE = P2 + b"ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00aK\x01sb."


def hostile() -> dict[str, bytes]:
    """Name -> bytes of files a loader would run code from (or that loaders read differently)."""
    with_payload = call("os", "system")
    files = {
        "reduce_os_system.pkl": with_payload,
        "proto0_eval.pkl": b"c__builtin__\neval\n(S'1+1'\ntR.",
        "proto0_posix.pkl": b"cposix\nsystem\n(S'echo pwn'\ntR.",
        "stack_global.pkl": stack_global_call("subprocess", "check_output"),
        "stack_global_memo.pkl": P4 + bu("os") + b"\x94" + bu("system") + b"\x94" + b"h\x00h\x01\x93" + CMD + b"\x85R.",
        "memo_fed_operand.pkl": P4 + bu("os") + b"q\x05" + b"0" + b"h\x05" + bu("system") + b"\x93" + CMD + b"\x85R.",
        "dup_binput.pkl": P4 + bu("os") + b"2q\x05" + b"00" + b"h\x05" + bu("system") + b"\x93" + CMD + b"\x85R.",
        "binget_memoize.pkl": P4 + bu("builtins") + b"q\x00" + b"h\x00\x94" + bu("exec") + b"\x93" + CMD + b"\x85R.",
        "string_fed_stack_global.pkl": P4 + b"S'os'\nS'system'\n\x93" + CMD + b"\x85R.",
        "dotted_name.pkl": P4 + bu("pathlib") + bu("os.system") + b"\x93" + CMD + b"\x85R.",
        "numpy_builtins.pkl": P4 + bu("numpy") + bu("__builtins__.get") + b"\x93" + bu("eval") + b"\x85R.",
        "inst.pkl": b"(S'echo pwn'\nios\nsystem\n.",
        "obj.pkl": P2 + b"(" + g("os", "system") + CMD + b"o.",
        "newobj.pkl": P2 + g("subprocess", "Popen") + CMD + b"\x85\x81.",
        "build_setstate.pkl": P2 + g("functools", "partial") + g("os", "system") + b"\x85R" + b"}b.",
        "hex_int_first.pkl": b"I0x1\n0" + g("os", "system") + CMD + b"\x85R.",
        "float_infinity_first.pkl": b"Finfinity\n0" + g("os", "system") + CMD + b"\x85R.",
        "put_with_underscore.pkl": b"Np0_0\n0" + g("os", "system") + CMD + b"\x85R.",
        "frame_lie.pkl": P4
        + b"\x95\x05\x00\x00\x00\x00\x00\x00\x00"
        + bu("os")
        + bu("system")
        + b"\x93"
        + CMD
        + b"\x85R.",
        "payload_then_broken.pkl": P2 + g("os", "system") + CMD + b"\x85R" + b"\xff\xff",
        "second_pickle.pkl": P2 + b"K\x01." + with_payload,
        "pickle_then_zip.bin": BENIGN_STATE + torch_zip(with_payload),
        "ext1.pkl": P2 + b"\x82\x01" + CMD + b"\x85R.",
        "next_buffer.pkl": b"\x80\x05\x97.",
        "computed_callable.pkl": P2 + g("builtins", "getattr") + b"0" + b"N" + b"q\x01h\x01)R.",
        "torch_storage_bytes.pkl": call("torch.storage", "_load_from_bytes"),
        "copyreg_reconstructor.pkl": P2 + g("copyreg", "_reconstructor") + g("os", "system") + b"N" + CMD + b"\x87R.",
        "io_fileio.pkl": call("io", "FileIO"),
        "operator_methodcaller.pkl": call("operator", "methodcaller"),
        "runpy.pkl": call("runpy", "_run_code"),
        "unknown_gadget.pkl": call("idlelib.pyshell", "ModifiedInterpreter"),
        "torch_zip.pt": torch_zip(with_payload),
        "torch_zip_hidden_member.pt": torch_zip(BENIGN_STATE, [("archive/data/0", with_payload)]),
        "torch_zip_duplicate.pt": _duplicate_members(BENIGN_STATE, with_payload),
        "torch_zip_local_name.pt": _rename_local(torch_zip(with_payload), b"archive/data.pkl", b"archive/data.pkX"),
        "torch_zip_flag_encrypted.pt": _flip_zip_flag(torch_zip(BENIGN_STATE), 0x1),
        "torch_zip_bad_crc.pt": _bad_crc(torch_zip(BENIGN_STATE)),
        "torch_zip_prefixed.pt": b"junk" * 8 + torch_zip(with_payload),
        "torch_zip_deflated.pt": zip_bytes([("archive/data.pkl", with_payload)], compress=zipfile.ZIP_DEFLATED),
        "nested_zip.zip": zip_bytes([("inner.zip", torch_zip(with_payload))]),
        "legacy_torch.bin": LEGACY_MAGIC + P2 + b"M\xe9\x03." + P2 + b"}." + with_payload + P2 + b"]." + b"\0" * 16,
        "legacy_hex_magic.bin": b"I0x1950a86a20f9469cfc6c\n." + with_payload,
        "torch_tar.tar": _tar(
            [("sys_info", P2 + b"}."), ("pickle", with_payload), ("storages", P2 + b"]."), ("tensors", P2 + b"].")]
        ),
        "npy_object.npy": npy("|O", (1,), with_payload),
        "npz_object.npz": zip_bytes([("a.npy", npy("|O", (1,), with_payload))]),
        "joblib_gzip.joblib": gzip.compress(with_payload),
        "joblib_zlib.pkl.z": zlib.compress(with_payload),
        "starts_with_short_binbytes.bin": b"C\x02hi0" + g("os", "system") + CMD + b"\x85R.",
        "starts_with_binfloat.bin": b"G" + b"\0" * 8 + b"0" + g("os", "system") + CMD + b"\x85R.",
        "starts_with_empty_set.bin": b"\x8f0" + g("subprocess", "getoutput") + CMD + b"\x85R.",
        "zlib_in_zip.pkl.gz": gzip.compress(torch_zip(with_payload)),
        "seven_zip.7z": b"7z\xbc\xaf\x27\x1c\x00\x04" + with_payload,
        "pickle_named_safetensors.safetensors": with_payload,
        "pickle_named_json.json": with_payload,
        "keras_lambda.keras": keras(
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "class_name": "Lambda",
                            "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAA"}}},
                        }
                    ]
                },
            }
        ),
        "keras_nested_lambda.keras": keras(
            {
                "class_name": "Functional",
                "config": {
                    "layers": [
                        {
                            "class_name": "Sequential",
                            "config": {
                                "layers": [
                                    {
                                        "class_name": "Lambda",
                                        "config": {
                                            "function": {"module": "os", "class_name": "function", "config": "system"}
                                        },
                                    }
                                ]
                            },
                        }
                    ]
                },
            }
        ),
        "keras_unsafe_toggle.keras": keras(
            {
                "class_name": "Lambda",
                "config": {
                    "function": {
                        "module": "keras.config",
                        "class_name": "function",
                        "config": "enable_unsafe_deserialization",
                    }
                },
            }
        ),
        "keras_h5.h5": b"\x89HDF\r\n\x1a\n"
        + b"\0" * 64
        + json.dumps(
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "class_name": "Lambda",
                            "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEA"}}},
                        }
                    ]
                },
            }
        ).encode()
        + b"\0" * 8,
        "onnx_traversal.onnx": onnx_with_location("../../etc/passwd"),
        "onnx_absolute.onnx": onnx_with_location("/etc/passwd"),
        "gguf_ssti.gguf": gguf(
            [("tokenizer.chat_template", "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id') }}")]
        ),
        "gguf_counts.gguf": b"GGUF" + struct.pack("<IQQ", 3, 2**63, 2**63),
        "gguf_huge_tensor.gguf": b"GGUF"
        + struct.pack("<IQQ", 3, 1, 0)
        + struct.pack("<Q", 1)
        + b"w"
        + struct.pack("<I", 2)
        + struct.pack("<QQ", 2**40, 2**40)
        + struct.pack("<IQ", 0, 0)
        + b"\0" * 64,
        "st_duplicate_keys.safetensors": _st_duplicate(),
        "st_overlap.safetensors": _st_raw(
            {
                "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
            },
            b"\0" * 6,
        ),
        "st_trailing.safetensors": weights(b"abcd") + b"\x80\x02" + with_payload,
        "st_huge_header.safetensors": struct.pack("<Q", 2**62) + b"{}",
        "st_bad_dtype.safetensors": _st_raw(
            {"a": {"dtype": "float32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
        ),
        "modeling_evil.py": b"import os\nos.system('echo pwn')\n",
        "script.bin": b"#!/bin/sh\necho pwn\n",
        "elf.bin": b"\x7fELF\x02\x01\x01" + b"\0" * 64,
        "torchscript.pt": zip_bytes(
            [
                ("m/data.pkl", BENIGN_STATE),
                ("m/code/m.py", b"def forward(self): pass\n"),
                ("m/constants.pkl", P2 + b")."),
            ]
        ),
    }
    return files


def _gguf_with_tensor(elements: int) -> bytes:
    """A GGUF file holding one F32 tensor of `elements` values, data aligned to 32 bytes."""
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0)
    head += struct.pack("<Q", 1) + b"w" + struct.pack("<I", 1) + struct.pack("<Q", elements) + struct.pack("<IQ", 0, 0)
    head += b"\0" * (-len(head) % 32)
    return head + b"\0" * (4 * elements)


def _st_raw(header: dict[str, object], data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def _st_duplicate() -> bytes:
    text = (
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8", "shape": [1], '
        b'"data_offsets": [0, 1]}}'
    )
    return struct.pack("<Q", len(text)) + text + b"\0"


def benign() -> dict[str, bytes]:
    """Name -> bytes of files real repositories carry that must pass."""
    return {
        "model.safetensors": safetensors(
            {"w": ("F32", [2, 2], b"\0" * 16), "b": ("BF16", [2], b"\0" * 4)}, metadata={"format": "pt"}
        ),
        "empty.safetensors": safetensors({}),
        "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
        "vocab.txt": b"[PAD]\n[UNK]\ncat\ndog\n",
        "cat_first.txt": b"cat\ndog\nmouse\n",
        "merges.txt": b"#version: 0.2\nh e\n",
        "README.md": b"---\nlicense: mit\n---\n# Model\n",
        "tokenizer.model": bytes(range(256)) * 8,
        "state_dict.pkl": BENIGN_STATE,
        "proto0_dict.pkl": b"(dp0\nS'a'\np1\nI1\ns.",
        "tensor_rebuild.pkl": P2
        + g("torch._utils", "_rebuild_tensor_v2")
        + b"((X\x07\x00\x00\x00storage"
        + g("torch", "FloatStorage")
        + b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x00K\x02\x85K\x01\x85\x89"
        + g("collections", "OrderedDict")
        + b")RtR.",
        "model.gguf": gguf(
            [
                ("general.architecture", "llama"),
                ("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}{% endfor %}"),
            ]
        ),
        "arr.npy": npy("<f4", (2,), b"\0" * 8),
        "tensor.gguf": _gguf_with_tensor(1024),
        "keras_ok.keras": keras(
            {
                "class_name": "Sequential",
                "module": "keras",
                "config": {"layers": [{"class_name": "Dense", "module": "keras.layers", "config": {"units": 2}}]},
            }
        ),
        "onnx_ok.onnx": onnx_with_location("weights.bin"),
        "data.json.gz": gzip.compress(b'{"a": 1}'),
        "plain.zip": zip_bytes([("a.txt", b"hello")], compress=zipfile.ZIP_DEFLATED),
        "crc_check.bin": zlib.compress(b"x" * 100),
        "license.txt": b"license: apache-2.0\nApache License\n",
        "notes.md": b"do not load pickles\nsee above\n",
        "binary_x78.bin": b"\x78\x9c" + b"\xff" * 40,
    }
