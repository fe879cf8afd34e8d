"""Write the gate's corpus with the real libraries: what torch, transformers, numpy, safetensors,
gguf, onnx and joblib really produce, and what fickling and hand-made `__reduce__` chains inject.

Run by hand, never in CI (CI has none of these libraries), in a separate environment:

    python3 -m venv /work/corpus-venv
    /work/corpus-venv/bin/pip install torch==2.13.0 transformers numpy safetensors gguf onnx joblib \\
        scikit-learn fickling accelerate omegaconf
    /work/corpus-venv/bin/python tests/data/make_corpus.py

It rewrites tests/data/corpus/{safe,suspicious,malicious}/ and MANIFEST.json (expected verdict and
reason for every file). Nothing hostile is ever loaded: payloads are written, never unpickled.
Payloads are harmless stand-ins (`echo pwn`); the imports and call sites are the real ones.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import shutil
import struct
import subprocess
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# `make_corpus.py compressed` (joblib, pandas, numpy, lz4, zstandard) needs no torch; tests/data/torch/,
# a fixtures folder beside this script, also imports as `torch`.
try:
    import torch

    torch.save  # noqa: B018
except (ImportError, AttributeError):
    torch = None

OUT = Path(__file__).parent / "corpus"
MANIFEST: dict[str, dict[str, str]] = {}
if torch is not None:
    torch.manual_seed(0)
np.random.seed(0)
random.seed(0)
warnings.filterwarnings("ignore")

# First bytes that used to trip the content sniffer inside raw storages: every pickle opcode, and
# the magic numbers of the formats the scanner recognises.
MAGICS = [bytes([op.code.encode("latin-1")[0]]) + b"\x01\x02" for op in __import__("pickletools").opcodes] + [
    b"N.",
    b"K\x01.",
    b"\x80\x02N.",
    b"\x80\x05\x95",
    b"BZh91AY&SY",
    b"\x28\xb5\x2f\xfd",
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"GGUF\x03\x00\x00\x00",
    b"MZ\x90\x00",
    b"\x7fELF",
    b"\x1f\x8b\x08",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"\x93NUMPY\x01\x00",
    b"\x89HDF\r\n\x1a\n",
    b"#!/bin/sh\n",
    b"x\x9c",
    b"cos\nsystem\n",
    b"Rar!",
    b"\x04\x22\x4d\x18",
]


def put(kind: str, name: str, data: bytes | None = None, reason: str = "", path: Path | None = None) -> Path:
    target = OUT / kind / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if data is not None:
        target.write_bytes(data)
    elif path is not None and path != target:
        shutil.copyfile(path, target)
    MANIFEST[f"{kind}/{name}"] = {"expect": kind, "reason": reason}
    return target


def tsave(obj: object, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


# -- safe ---------------------------------------------------------------------------------------------


def architectures() -> dict[str, torch.nn.Module]:
    from transformers import (
        BertConfig,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    tiny = {"vocab_size": 64}
    return {
        "bert": BertModel(
            BertConfig(
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                max_position_embeddings=32,
                **tiny,
            )
        ),
        "gpt2": GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, n_positions=32, **tiny)),
        "llama": LlamaForCausalLM(
            LlamaConfig(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=1,
                max_position_embeddings=32,
                **tiny,
            )
        ),
        "t5": T5ForConditionalGeneration(T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8, **tiny)),
        "convnet": torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3),
            torch.nn.BatchNorm2d(4),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.Linear(16, 2),
        ),
    }


def seed_storages(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Overwrite each floating tensor's first bytes with one of MAGICS (values stay finite enough)."""
    out = {}
    for i, (key, tensor) in enumerate(state.items()):
        t = tensor.detach().clone().contiguous()
        raw = t.view(-1).view(torch.uint8) if t.is_floating_point() and t.numel() else None
        if raw is not None and raw.numel() >= 16:
            magic = MAGICS[i % len(MAGICS)]
            raw[: len(magic)] = torch.tensor(list(magic), dtype=torch.uint8)
        out[key] = t
    return out


def safe_torch() -> None:
    for arch, model in architectures().items():
        state = model.state_dict()
        put("safe", f"{arch}_fp32.bin", tsave(seed_storages(state)))
        for dtype, label in ((torch.float16, "fp16"), (torch.bfloat16, "bf16")):
            put("safe", f"{arch}_{label}.bin", tsave(seed_storages({k: v.to(dtype) for k, v in state.items()})))
        if arch in ("gpt2", "convnet"):
            put("safe", f"{arch}_legacy.bin", tsave(seed_storages(state), _use_new_zipfile_serialization=False))
    lin = torch.nn.Linear(8, 8)
    small = {"w": lin.weight.detach()}
    dtypes = [
        torch.float8_e4m3fn,
        torch.float8_e5m2,
        torch.int8,
        torch.uint8,
        torch.bool,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.float64,
        torch.complex64,
        torch.uint16,
        torch.uint32,
        torch.float8_e8m0fnu,
    ]
    put("safe", "dtypes.pt", tsave({str(d): small["w"].to(d) for d in dtypes}))
    put(
        "safe",
        "dtypes_legacy.pt",
        tsave({str(d): small["w"].to(d) for d in dtypes[2:11]}, _use_new_zipfile_serialization=False),
    )
    # Every magic at the start of its own storage, as raw uint8 tensors.
    seeded = {f"m{i}": torch.tensor(list(m.ljust(16, b"\0")), dtype=torch.uint8) for i, m in enumerate(MAGICS)}
    put("safe", "seeded_storages.pt", tsave(seeded))
    put("safe", "seeded_storages_legacy.pt", tsave(seeded, _use_new_zipfile_serialization=False))
    base = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    views = {
        "t": base.T,
        "strided": base[:, ::2],
        "offset": base[3:5],
        "same": base,
        "alias": base.view(64),
        "scalar": torch.tensor(3.0),
    }
    put("safe", "views_noncontiguous.pt", tsave(views))
    put("safe", "views_legacy.pt", tsave(views, _use_new_zipfile_serialization=False))
    put("safe", "parameter.pt", tsave(torch.nn.Parameter(torch.ones(3))))
    q = torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint8)
    put(
        "safe",
        "quantized.pt",
        tsave(
            {
                "q": q,
                "qc": torch.quantize_per_channel(
                    torch.ones(2, 2), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0, torch.quint8
                ),
            }
        ),
    )
    put(
        "safe",
        "empty_and_scalar.pt",
        tsave({"e": torch.empty(0), "s": torch.tensor(1), "none": None, "meta": {"epoch": 3, "names": ["a"]}}),
    )
    safe_optimizers()
    safe_rng()
    safe_lightning_style()


def safe_optimizers() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    makers: dict[str, Callable[..., torch.optim.Optimizer]] = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": lambda p: torch.optim.RMSprop(p, momentum=0.5),
        "adamax": torch.optim.Adamax,
    }
    for label, make in makers.items():
        opt = make(model.parameters())
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
        put("safe", f"optimizer_{label}.pt", tsave(opt.state_dict()))
        if label == "adam":
            put("safe", "optimizer_adam_legacy.pt", tsave(opt.state_dict(), _use_new_zipfile_serialization=False))
    opt = torch.optim.AdamW(model.parameters())
    for label, sched in {
        "steplr": torch.optim.lr_scheduler.StepLR(opt, 2),
        "cosine": torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10),
        "onecycle": torch.optim.lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10),
    }.items():
        opt.step()
        sched.step()
        put("safe", f"scheduler_{label}.pt", tsave(sched.state_dict()))


def safe_lightning_style() -> None:
    """A Lightning-style `.ckpt`: weights plus OmegaConf hyper-parameters (Lightning itself is not needed)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"lr": 0.1, "layers": [1, 2], "name": "x", "nested": {"a": True}})
    state = {"state_dict": {"w": torch.ones(2)}, "hyper_parameters": cfg, "epoch": 1, "global_step": 10}
    put("safe", "lightning_omegaconf.ckpt", tsave(state))


def safe_rng() -> None:
    trainer = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    put("safe", "rng_state.pth", tsave(trainer))
    put(
        "safe",
        "rng_generator.pt",
        tsave({"gen": np.random.default_rng(1).bit_generator.state, "torch": torch.Generator().get_state()}),
    )


def safe_numpy() -> None:
    arrays = {
        d.replace("?", "bool"): np.arange(6).astype(d).reshape(2, 3)
        for d in ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?", "c8", "c16"]
    }
    arrays["U"] = np.array(["ab", "c"])
    arrays["S"] = np.array([b"ab", b"c"])
    arrays["struct"] = np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8", (2,))])
    arrays["fortran"] = np.asfortranarray(np.ones((3, 2)))
    for key, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        put("safe", f"npy_{key}.npy", buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in arrays.items() if k in ("f4", "i8", "bool")})
    put("safe", "arrays.npz", buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, zeros=np.zeros(100_000, dtype="f4"), ramp=np.arange(1000))
    put("safe", "arrays_compressed.npz", buf.getvalue())
    seeded = np.frombuffer(b"".join(m.ljust(16, b"\0") for m in MAGICS), dtype=np.uint8)
    buf = io.BytesIO()
    np.save(buf, seeded)
    put("safe", "npy_seeded.npy", buf.getvalue())
    import joblib

    for label, kwargs in {"": {}, "_zlib": {"compress": ("zlib", 3)}, "_gzip": {"compress": ("gzip", 3)}}.items():
        path = OUT / "tmp.joblib"
        OUT.mkdir(exist_ok=True)
        joblib.dump(
            {"w": np.arange(10, dtype="f4"), "seeded": seeded, "i": np.ones((2, 2), dtype="i8")}, path, **kwargs
        )
        put("safe", f"arrays{label}.joblib", path.read_bytes())
        path.unlink()


def safe_safetensors() -> None:
    import safetensors.numpy
    import safetensors.torch

    tensors = {
        str(d).split(".")[-1]: torch.ones(2, 2).to(d)
        for d in [
            torch.float64,
            torch.float32,
            torch.float16,
            torch.bfloat16,
            torch.int64,
            torch.int32,
            torch.int16,
            torch.int8,
            torch.uint8,
            torch.bool,
            torch.float8_e4m3fn,
            torch.float8_e5m2,
            torch.uint16,
            torch.uint32,
            torch.uint64,
        ]
    }
    put("safe", "all_dtypes.safetensors", safetensors.torch.save(tensors, metadata={"format": "pt"}))
    # The newer dtypes (F8_E8M0, FNUZ, F4 packed two per byte) from raw bytes: torch cannot cast to them.
    raw = torch.arange(8, dtype=torch.uint8)
    newer = [torch.float8_e8m0fnu, torch.float8_e4m3fnuz, torch.float8_e5m2fnuz, torch.float4_e2m1fn_x2]
    put(
        "safe",
        "newer_dtypes.safetensors",
        safetensors.torch.save({str(d).split(".")[-1]: raw.clone().view(d) for d in newer}),
    )
    put("safe", "complex.safetensors", safetensors.numpy.save({"c": np.ones(2, dtype="c8")}))
    gpt2 = architectures()["gpt2"].state_dict()
    put(
        "safe",
        "gpt2.safetensors",
        safetensors.torch.save({k: v.contiguous() for k, v in gpt2.items() if k != "lm_head.weight"}),
    )
    put("safe", "empty.safetensors", safetensors.torch.save({}))


def safe_gguf() -> None:
    import gguf

    path = OUT / "tmp.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_chat_template("{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] | trim }}{% endfor %}")
    writer.add_token_list([f"tok{i}" for i in range(300)])
    writer.add_array("tokenizer.ggml.scores", [float(i) for i in range(300)])
    data = np.random.rand(4, 64).astype(np.float32)
    writer.add_tensor("f32", data)
    writer.add_tensor("f16", data.astype(np.float16))
    for qtype in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q5_1):
        writer.add_tensor(qtype.name.lower(), gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    put("safe", "tiny_quants.gguf", path.read_bytes())
    path.unlink()


def safe_onnx() -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.frombuffer(b"".join(MAGICS[:8]).ljust(256, b"\0")[:256], dtype=np.float32).reshape(8, 8), "W"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [weight],
    )
    model = helper.make_model(graph)
    directory = OUT / "safe" / "onnx_external"
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        model, str(directory / "model.onnx"), save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    put("safe", "onnx_external/model.onnx")
    put("safe", "onnx_external/weights.bin")


# -- suspicious: loadable by weights_only=False only, not weights --------------------------------------


def suspicious() -> None:
    model = architectures()["convnet"]
    put("suspicious", "whole_module.pt", tsave(model), "whole-object save")
    put("suspicious", "whole_module_legacy.pt", tsave(model, _use_new_zipfile_serialization=False), "whole-object save")
    put("suspicious", "whole_optimizer.pt", tsave(torch.optim.SGD(model.parameters(), lr=0.1)), "whole-object save")
    from transformers import TrainingArguments

    os.environ.setdefault("ACCELERATE_USE_CPU", "1")
    args = TrainingArguments(output_dir=str(OUT / "tmp-trainer"), report_to=[], use_cpu=True)
    put("suspicious", "training_args.bin", tsave(args), "training state, not weights")
    shutil.rmtree(OUT / "tmp-trainer", ignore_errors=True)
    import joblib
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit(np.random.rand(8, 3), [0, 1] * 4)
    path = OUT / "tmp.joblib"
    joblib.dump(clf, path)
    put("suspicious", "sklearn_model.joblib", path.read_bytes(), "not on the allowlist")
    path.unlink()


# -- malicious ------------------------------------------------------------------------------------------


class Reduce:
    """An object whose pickle calls `target(*args)` on load."""

    def __init__(self, target: Callable[..., object], *args: object) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.target, self.args


def malicious() -> None:
    for proto in range(6):
        put(
            "malicious",
            f"reduce_os_system_p{proto}.pkl",
            pickle.dumps(Reduce(os.system, "echo pwn"), protocol=proto),
            "system (",
        )
    put("malicious", "reduce_popen.pkl", pickle.dumps(Reduce(subprocess.Popen, ["echo", "pwn"])), "subprocess.Popen")
    put("malicious", "reduce_eval.pkl", pickle.dumps(Reduce(eval, "print('pwn')")), "builtins.eval")
    put(
        "malicious",
        "reduce_exec_in_state_dict.pt",
        tsave({"w": torch.ones(2), "x": Reduce(exec, "print('pwn')")}),
        "builtins.exec",
    )
    put(
        "malicious",
        "reduce_exec_legacy.pt",
        tsave({"w": torch.ones(2), "x": Reduce(exec, "1")}, _use_new_zipfile_serialization=False),
        "builtins.exec",
    )
    put("malicious", "reduce_torch_load.pkl", pickle.dumps(Reduce(torch.load, "other.pt")), "torch.serialization.load")
    put("malicious", "np_object_payload.npy", _npy_object(Reduce(os.system, "echo pwn")), "system (")
    import joblib

    path = OUT / "tmp.joblib"
    joblib.dump({"w": np.ones(3), "x": Reduce(os.system, "echo pwn")}, path)
    put("malicious", "joblib_payload.joblib", path.read_bytes(), "system (")
    joblib.dump({"w": np.ones(3), "x": Reduce(os.system, "echo pwn")}, path, compress=3)
    put("malicious", "joblib_payload_zlib.joblib", path.read_bytes(), "system (")
    path.unlink()
    # A dotted name from a module that imported torch, which imported ctypes, ... (attribute traversal).
    module, name = b"torch.nn.modules.module", b"torch.ctypes.util.subprocess.Popen"
    dotted = (
        b"\x80\x04\x8c"
        + bytes([len(module)])
        + module
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x93\x8c\x04echo\x85R."
    )
    put("malicious", "dotted_popen.pkl", dotted, "dotted name")
    put("malicious", "dotted_popen_in_zip.pt", _replace_pickle(tsave({"w": torch.ones(2)}), dotted), "dotted name")
    fickled()


def _npy_object(obj: object) -> bytes:
    arr = np.empty(1, dtype=object)
    arr[0] = obj
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _replace_pickle(checkpoint: bytes, new: bytes) -> bytes:
    """The same torch zip with data.pkl swapped (storages left as they were)."""
    src = zipfile.ZipFile(io.BytesIO(checkpoint))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, new if info.filename.endswith("/data.pkl") else src.read(info))
    return out.getvalue()


def fickled() -> None:
    from fickling.fickle import Pickled
    from fickling.pytorch import PyTorchModelWrapper

    base = pickle.dumps({"weights": [1.0, 2.0], "epoch": 3}, protocol=4)
    for mode in ("exec", "eval"):
        pickled = Pickled.load(base)
        getattr(pickled, f"insert_python_{mode}")(
            "__import__('os').system('echo pwn')" if mode == "eval" else "import os; os.system('echo pwn')",
            run_first=True,
        )
        put("malicious", f"fickling_{mode}.pkl", pickled.dumps(), f"builtins.{mode}")
    checkpoint = OUT / "tmp_fickle.pt"
    torch.save(architectures()["bert"].state_dict(), checkpoint)
    for injection in ("insertion", "combination"):
        target = OUT / f"tmp_{injection}.pt"
        try:
            PyTorchModelWrapper(checkpoint).inject_payload("print('pwn')", target, injection=injection)
        except Exception as exc:  # report which fickling mode this version lacks
            print(f"fickling {injection}: {exc}")
            continue
        put("malicious", f"fickling_torch_{injection}.pt", target.read_bytes(), "builtins.")
        target.unlink()
    checkpoint.unlink()


def allowlist_reference() -> None:
    """torch's own weights_only allowlist, so a test can prove ours contains exactly it."""
    from torch._weights_only_unpickler import _get_allowed_globals

    (OUT / "torch_weights_only_globals.txt").write_text("\n".join(sorted(_get_allowed_globals())) + "\n")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()
    safe_torch()
    safe_numpy()
    safe_safetensors()
    safe_gguf()
    safe_onnx()
    suspicious()
    malicious()
    archives_by_layout()
    allowlist_reference()
    prove_labels(compressed_families())
    write_manifest()


def write_manifest() -> None:
    with open(OUT / "MANIFEST.json", "w") as f:
        json.dump(dict(sorted(MANIFEST.items())), f, indent=1)
        f.write("\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    counts = {k: sum(1 for v in MANIFEST.values() if v["expect"] == k) for k in ("safe", "suspicious", "malicious")}
    print(f"{len(MANIFEST)} files, {total / 1024:.0f} KiB: {counts}")


# -- compressed containers (issue #20): written by joblib, numpy and pandas, every label proven ----------
#
# Needs joblib, numpy, pandas, lz4 and zstandard (no torch):
#     python3 -m venv /tmp/corpus-venv && /tmp/corpus-venv/bin/pip install joblib numpy pandas lz4 zstandard
#     /tmp/corpus-venv/bin/python tests/data/make_corpus.py compressed
# rewrites {safe,malicious}/compressed/ and their MANIFEST.json entries, leaving every other entry as it is.
# Unlike the families above, each label is proven: every file is loaded by its real loader in a throwaway
# process in an empty directory; a malicious one must create the marker file there, a safe one must load.

MARKER = "modellock-payload-ran"
JOBLIB_COMPRESSORS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
PANDAS_SUFFIXES = {"gzip": ".gz", "bz2": ".bz2", "zip": ".zip", "xz": ".xz", "zstd": ".zst", "tar": ".tar"}
_LOADERS = {
    "joblib": "import joblib, sys; joblib.load(sys.argv[1])",
    "pandas": "import pandas, sys; pandas.read_pickle(sys.argv[1])",
    "numpy": "import numpy, sys; f = numpy.load(sys.argv[1], allow_pickle=True); [f[k] for k in f.files]",
}


def _payload() -> Reduce:
    return Reduce(os.system, f"touch {MARKER}")


def compressed_families() -> list[tuple[str, str]]:
    """Write the families; returns (corpus path, loader) for every file, to prove its label."""
    import joblib
    import pandas

    written: list[tuple[str, str]] = []
    arrays = {
        "w": np.arange(12, dtype="f4").reshape(3, 4),
        "ids": np.arange(5),
        "seeded": np.frombuffer(b"".join(MAGICS[:8]), np.uint8),
    }
    tmp = OUT / "tmp-compressed"
    tmp.mkdir(parents=True, exist_ok=True)
    for compressor in JOBLIB_COMPRESSORS:
        for kind, obj in (("safe", arrays), ("malicious", {**arrays, "x": _payload()})):
            path = tmp / f"joblib_{compressor}.joblib"
            joblib.dump(obj, path, compress=compressor)
            name = f"compressed/joblib_{compressor}.joblib"
            put(kind, name, path.read_bytes(), "system (" if kind == "malicious" else "")
            written.append((f"{kind}/{name}", "joblib"))
    # The bypass as it would be shipped: joblib's LZMA-alone file under a torch checkpoint's name.
    put(
        "malicious",
        "compressed/joblib_lzma_as_pytorch_model.bin",
        (OUT / "malicious/compressed/joblib_lzma.joblib").read_bytes(),
        "system (",
    )
    written.append(("malicious/compressed/joblib_lzma_as_pytorch_model.bin", "joblib"))
    # numpy: np.savez_compressed, numeric (what embeddings are) and with an object array (a pickle inside).
    for kind, extra in (("safe", {}), ("malicious", {"obj": np.array([_payload()], dtype=object)})):
        path = tmp / "arrays.npz"
        np.savez_compressed(path, **arrays, **extra)
        name = f"compressed/savez_compressed{'_object' if extra else ''}.npz"
        put(kind, name, path.read_bytes(), "system (" if kind == "malicious" else "")
        written.append((f"{kind}/{name}", "numpy"))
    # pandas infers the compression from the extension; each of its methods, safe (a dict of arrays) and not.
    for method, suffix in PANDAS_SUFFIXES.items():
        for kind, obj in (("safe", arrays), ("malicious", {"x": _payload()})):
            path = tmp / f"frame.pkl{suffix}"
            pandas.to_pickle(obj, path, compression=method)
            name = f"compressed/pandas_{method}.pkl{suffix}"
            put(kind, name, path.read_bytes(), "system (" if kind == "malicious" else "")
            written.append((f"{kind}/{name}", "pandas"))
    shutil.rmtree(tmp)
    return written


def prove_labels(written: list[tuple[str, str]]) -> None:
    """Load each file with its real loader in a fresh process and empty directory; fail loudly on a wrong label."""
    import sys
    import tempfile

    for name, loader in written:
        with tempfile.TemporaryDirectory() as cwd:
            run = subprocess.run(
                [sys.executable, "-c", _LOADERS[loader], str((OUT / name).resolve())],
                cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            ran = (Path(cwd) / MARKER).exists()
        if name.startswith("malicious/") and not ran:
            raise SystemExit(f"{name}: the payload did not run under {loader} ({run.stderr.strip()[-300:]})")
        if name.startswith("safe/") and (ran or run.returncode):
            raise SystemExit(f"{name}: did not load cleanly under {loader} ({run.stderr.strip()[-300:]})")
        print(f"proven: {name} ({loader})")


def add_compressed_families() -> None:
    manifest_path = OUT / "MANIFEST.json"
    MANIFEST.update(json.loads(manifest_path.read_text()))
    for key in [k for k in MANIFEST if k.split("/", 1)[1].startswith("compressed/")]:
        del MANIFEST[key]
    for kind in ("safe", "malicious"):
        shutil.rmtree(OUT / kind / "compressed", ignore_errors=True)
    prove_labels(compressed_families())
    with open(manifest_path, "w") as f:
        json.dump(dict(sorted(MANIFEST.items())), f, indent=1)
        f.write("\n")


# -- archives by layout (issue #20): torch.export, CRC-0 torch zips, GGUF in both byte orders ---------
#
# Run alone, keeping the rest of the corpus: `python tests/data/make_corpus.py --only archives`
# (needs torch==2.13.0, numpy and gguf only).


class Payload:
    """`echo pwn-<where>` on unpickling, so a label's proof can see which payload ran."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return os.system, (f"echo pwn-{self.where}",)


def _pt2_programs() -> dict[str, Any]:
    """Real exported programs: weights with buffers and constants, derived dynamic shapes, control flow."""
    from torch.export import Dim

    class Buffers(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)
            self.register_buffer("running", torch.ones(3))
            self.register_buffer("scratch", torch.arange(3.0), persistent=False)
            self.scale = torch.tensor([1.0, 2.0, 3.0])  # a tensor constant

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x) * self.scale + self.running + self.scratch

    class Dynamic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(3, 3)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            n = x.shape[0]
            z = self.proj(torch.cat([x, y], dim=0))
            return z[: n // 2 + 1].reshape(-1) * (n * 3 - 1)

    class Branch(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.cond(x.sum() > 0, lambda a, b: a + b, lambda a, b: a - b, (x, y))

    class Unbacked(torch.nn.Module):  # data-dependent sizes: unbacked symbols and runtime asserts
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            count = (x > 0).sum().item()
            torch._check(count >= 0)
            return x.nonzero().float().sum() + torch.zeros(count).sum()

    class Loop(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            from torch._higher_order_ops.while_loop import while_loop

            return while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * 2), (torch.tensor(0), x))

    class GradModes(torch.nn.Module):  # no_grad and autocast regions: wrap_with_set_grad_enabled/autocast
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                y = self.lin(x)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                z = self.lin(x)
            return y + z.float()

    class Tied(torch.nn.Module):  # one storage behind a parameter, its tied copy and a view buffer
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(20, 4)
            self.out = torch.nn.Linear(4, 20, bias=False)
            self.out.weight = self.emb.weight
            self.register_buffer("rows", self.emb.weight.detach()[2:5])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(x)) + self.rows.sum()

    class Dtypes(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            kinds = (torch.float16, torch.bfloat16, torch.int8, torch.bool, torch.float64, torch.complex64,
                     torch.uint8, torch.int64, torch.float8_e4m3fn)  # fmt: skip
            for i, dtype in enumerate(kinds):
                self.register_buffer(f"b{i}", torch.ones(3, dtype=dtype))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.b0.float().sum() + self.b4.float().sum()

    half = Dim("half", min=1, max=64)
    seeded = Buffers()
    with torch.no_grad():  # raw weight records that start like pickles and archives
        for i, magic in enumerate((b"\x80\x02N.", b"PK\x03\x04", b"GGUF")):
            raw = seeded.lin.weight.view(-1).view(torch.uint8)
            raw[i * 16 : i * 16 + len(magic)] = torch.tensor(list(magic), dtype=torch.uint8)
    return {
        "buffers": torch.export.export(Buffers(), (torch.randn(2, 4),)),
        "seeded": torch.export.export(seeded, (torch.randn(2, 4),)),
        "dynamic": torch.export.export(
            Dynamic(),
            (torch.randn(6, 3), torch.randn(12, 3)),
            dynamic_shapes={"x": {0: 2 * half}, "y": {0: 4 * half}},
        ),
        "branch": torch.export.export(Branch(), (torch.randn(3), torch.randn(3))),
        "unbacked": torch.export.export(Unbacked(), (torch.tensor([1.0, -1.0, 2.0]),)),
        "while_loop": torch.export.export(Loop(), (torch.randn(3),)),
        "grad_modes": torch.export.export(GradModes(), (torch.randn(2, 4),)),
        "tied_views": torch.export.export(Tied(), (torch.randint(0, 20, (3,)),)),
        "dtypes": torch.export.export(Dtypes(), (torch.randn(2),)),
        "buffers_decomposed": torch.export.export(Buffers(), (torch.randn(2, 4),)).run_decompositions(),
    }


Change = Callable[[str, bytes], bytes | None]


def _pt2_repack(source: Path, target: Path, change: Change, add: dict[str, bytes]) -> None:
    """The same archive rewritten record by record through torch's own PT2 writer."""
    from torch.export.pt2_archive import PT2ArchiveWriter

    written_by_writer = (".data/version", ".data/serialization_id", "byteorder")
    with zipfile.ZipFile(source) as src, PT2ArchiveWriter(str(target)) as writer:
        root = src.namelist()[0].split("/", 1)[0]
        for info in src.infolist():
            name = info.filename[len(root) + 1 :]
            body = change(name, src.read(info))
            if body is not None and name not in written_by_writer:
                writer.write_bytes(name, body)
        for name, body in add.items():
            writer.write_bytes(name, body)


def _edit_json(record: str, edit: Callable[[Any], None]) -> Callable[[str, bytes], bytes | None]:
    def change(name: str, body: bytes) -> bytes:
        if name != record:
            return body
        document = json.loads(body)
        edit(document)
        return json.dumps(document).encode()

    return change


def _declare_constant(path_name: str) -> Callable[[str, bytes], bytes | None]:
    meta = {"path_name": path_name, "is_param": False, "use_pickle": True, "tensor_meta": None}
    return _edit_json("data/constants/model_constants_config.json", lambda d: d["config"].update({"extra": meta}))


def _pickled_constants(name: str, body: bytes) -> bytes | None:
    if name == "data/constants/model_constants_config.json":
        document = json.loads(body)
        for meta in document["config"].values():
            meta["use_pickle"] = True
        return json.dumps(document).encode()
    return tsave(Payload("pickled-constant")) if name == "data/constants/tensor_0" else body


def archives_by_layout() -> None:
    from torch.export.pt2_archive._package import package_pt2

    tmp = OUT / "tmp-pt2"
    tmp.mkdir(parents=True, exist_ok=True)
    programs = _pt2_programs()
    saved = {}
    for name in ("buffers", "seeded", "branch", "unbacked", "while_loop", "grad_modes", "tied_views", "dtypes",
                 "buffers_decomposed"):  # fmt: skip
        saved[name] = tmp / f"pt2_{name}.pt2"
        torch.export.save(programs[name], saved[name])
    saved["dynamic"] = tmp / "pt2_dynamic_guards.pt2"
    torch.export.save(programs["dynamic"], saved["dynamic"], extra_files={"note.txt": "derived dims"})
    package_pt2(
        tmp / "pt2_package_two_models.pt2",
        exported_programs={"model": programs["buffers"], "branch": programs["branch"]},
        extra_files={"module_info.json": "{}"},
    )
    saved["two"] = tmp / "pt2_package_two_models.pt2"
    torch.serialization.set_crc32_options(False)
    try:
        torch.export.save(programs["buffers"], tmp / "pt2_crc0.pt2")
        saved["crc0"] = tmp / "pt2_crc0.pt2"
        put("safe", "torch_crc0.pt", tsave(architectures_free_state()))
        put("malicious", "torch_crc0_payload.pt", tsave({"w": torch.ones(2), "x": Payload("crc0")}), "system (")
    finally:
        torch.serialization.set_crc32_options(True)
    for path in saved.values():
        put("safe", path.name, path=path)
    base = saved["buffers"]
    sample = tsave(((torch.ones(2, 4), Payload("sample-inputs")), {}))
    hostile: dict[str, tuple[Callable[[str, bytes], bytes | None], dict[str, bytes], str]] = {
        "pt2_opaque_object_payload.pt2": (
            _declare_constant("opaque_obj_0"),
            {"data/constants/opaque_obj_0": pickle.dumps(Payload("opaque-object"), protocol=2)},
            "system (",
        ),
        "pt2_pickled_constant_payload.pt2": (_pickled_constants, {}, "system ("),
        "pt2_sample_inputs_payload.pt2": (
            lambda name, body: sample if name == "data/sample_inputs/model.pt" else body,
            {},
            "system (",
        ),
        "pt2_sympy_expression_payload.pt2": (
            _edit_json("models/model.json", _sympy_payload),
            {},
            "symbolic expression",
        ),
        "pt2_guard_payload.pt2": (
            _edit_json("models/model.json", lambda d: d.update(guards_code=[GUARD_PAYLOAD])),
            {},
            "guard",
        ),
    }
    for name, (change, add, reason) in hostile.items():
        _pt2_repack(base, tmp / name, change, add)
        put("malicious", name, path=tmp / name, reason=reason)
    # A torchbind object (a quantized linear's packed parameters) as TorchScript's pickler writes it.
    packed = torch.ops.quantized.linear_prepack(torch.quantize_per_tensor(torch.randn(3, 4), 0.1, 0, torch.qint8))
    custom = {"data/constants/custom_obj_0": torch._C._pickle_save(packed)}
    _pt2_repack(base, tmp / "pt2_custom_object.pt2", _declare_constant("custom_obj_0"), custom)
    put("safe", "pt2_custom_object.pt2", path=tmp / "pt2_custom_object.pt2")
    put("safe", "pt2_legacy_layout.pt2", _legacy_export(programs["buffers"]))
    hostile_inputs = _legacy_export(programs["buffers"], example_inputs=sample)
    put("malicious", "pt2_legacy_inputs_payload.pt2", hostile_inputs, "system (")
    for order in ("little", "big"):
        put("safe", f"gguf_{order}_endian.gguf", _gguf(order))
    shutil.rmtree(tmp)
    prove_archive_labels()


def _legacy_export(program: Any, example_inputs: bytes | None = None) -> bytes:
    """The flat layout `torch.export.save` wrote before the PT2 archive (torch 2.1 to 2.4), which
    `torch.export.load` still reads, assembled from torch's own serializer as those versions did."""
    from torch._export.serde.schema import SCHEMA_VERSION
    from torch._export.serde.serialize import serialize

    artifact = serialize(program)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("serialized_exported_program.json", artifact.exported_program)
        archive.writestr("serialized_state_dict.pt", artifact.state_dict)
        archive.writestr("serialized_constants.pt", artifact.constants)
        archive.writestr("serialized_example_inputs.pt", example_inputs or artifact.example_inputs)
        archive.writestr("version", ".".join(map(str, SCHEMA_VERSION)))
    return out.getvalue()


def architectures_free_state() -> dict[str, torch.Tensor]:
    """A state dict that needs no transformers: the convnet's tensors of several dtypes."""
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    state = dict(conv.state_dict())
    state["half"] = torch.randn(5).half()
    return state


GUARD_PAYLOAD = "__import__('os').system('echo pwn-guard') == 0"


def _sympy_payload(program: Any) -> None:
    # The placeholder's first size becomes an expression: sympy.sympify evaluates it in torch.export.load.
    sizes = program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
    sizes[0] = {"as_expr": {"expr_str": "__import__('os').system('echo pwn-sympy')", "hint": {"as_int": 2}}}


def _gguf(order: str) -> bytes:
    import gguf

    path = OUT / f"tmp-{order}.gguf"
    endian = gguf.GGUFEndian.BIG if order == "big" else gguf.GGUFEndian.LITTLE
    writer = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    writer.add_block_count(1)
    writer.add_chat_template("{% for m in messages %}{{ m['role'] + ': ' + m['content'] }}{% endfor %}")
    writer.add_token_list([f"tok{i}" for i in range(40)])
    writer.add_array("tokenizer.ggml.scores", [float(i) for i in range(40)])
    data = np.random.rand(4, 32).astype(np.float32)
    writer.add_tensor("f32", data)
    writer.add_tensor("f16", data.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    body = path.read_bytes()
    path.unlink()
    return body


_PROVE = """
import sys, torch
path, kind = sys.argv[1], sys.argv[2]
if path.endswith(".pt2"):
    ep = torch.export.load(path)
    args, kwargs = ep.example_inputs
    ep.module()(*args, **kwargs)  # the guards function built from guards_code runs on each call
elif path.endswith(".gguf"):
    import gguf
    reader = gguf.GGUFReader(path)
    assert [t.name for t in reader.tensors] == ["f32", "f16"], reader.tensors
else:
    torch.load(path, weights_only=kind == "safe")
print("loaded")
"""


def prove_archive_labels() -> None:
    """Each label of this section proven by loading the file in a throwaway process."""
    import sys

    for key, entry in MANIFEST.items():
        name = key.split("/", 1)[1]
        if not (name.startswith(("pt2_", "gguf_", "torch_crc0"))):
            continue
        run = subprocess.run(
            [sys.executable, "-c", _PROVE, str(OUT / key), entry["expect"]], capture_output=True, text=True, timeout=600
        )
        ran = "pwn-" in run.stdout
        if entry["expect"] == "malicious" and not ran:
            raise SystemExit(f"{key}: the payload did not run on load\n{run.stdout}{run.stderr[-2000:]}")
        if entry["expect"] == "safe" and (ran or "loaded" not in run.stdout):
            raise SystemExit(f"{key}: a safe file did not load\n{run.stdout}{run.stderr[-2000:]}")
        print(f"proved {key}: {'payload ran' if ran else 'loaded'}")


def only_archives() -> None:
    """Regenerate this section alone, keeping every other file and manifest entry."""
    MANIFEST.update(json.loads((OUT / "MANIFEST.json").read_text()))
    for key in [k for k in MANIFEST if k.split("/", 1)[1].startswith(("pt2_", "gguf_", "torch_crc0"))]:
        del MANIFEST[key]
    archives_by_layout()
    write_manifest()


if __name__ == "__main__":
    import sys

    struct.calcsize("<Q")
    if sys.argv[1:] == ["compressed"]:
        add_compressed_families()
    elif sys.argv[1:] == ["--only", "archives"]:
        only_archives()
    else:
        main()
