"""Write tests/data/bypasses/: every bypass technique of `bypasses.py` as files real loaders open,
and prove each one runs with the loader it targets before it is committed.

Run by hand, in an environment with the real libraries (CI has none of them):

    python3 -m venv /tmp/corpus-venv
    /tmp/corpus-venv/bin/pip install torch==2.13.0 numpy joblib
    /tmp/corpus-venv/bin/python tests/data/make_bypasses.py

For each technique and encoding it writes the raw pickle (`.pkl`, proven with `pickle.load`), and
for two encodings per technique the same pickle as `data.pkl` of a zip written by torch's own
`PyTorchFileWriter` (`.pt`, proven with `torch.load(weights_only=False)`), as a joblib file
(`.joblib`, and zlib-compressed by joblib's own `BinaryZlibFile` as `.joblib.z`, proven with
`joblib.load`) and as the object-array member of an `.npz` (proven with
`numpy.load(allow_pickle=True)`). Every load runs in a forked child in an empty directory; the
manifest records whether the payload created its marker there, and why not where it cannot.
A payload that should run and did not stops the script: a fixture must be a real attack.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import bypasses  # noqa: E402

OUT = HERE / "bypasses"


def torch_zip(path: Path, pickle: bytes) -> None:
    import torch

    writer = torch._C.PyTorchFileWriter(str(path))
    writer.write_record("data.pkl", pickle, len(pickle))
    writer.write_record(".data/version", b"3\n", 2)
    writer.write_record("byteorder", b"little", 6)
    writer.write_end_of_file()


def joblib_zlib(path: Path, pickle: bytes) -> None:
    from joblib.compressor import BinaryZlibFile

    with BinaryZlibFile(str(path), "wb", compresslevel=3) as f:
        f.write(pickle)


def npz(path: Path, pickle: bytes) -> None:
    import numpy as np
    from numpy.lib import format as npformat

    member = io.BytesIO()
    npformat.write_array_header_1_0(member, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    member.write(pickle)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        # A fixed timestamp, so regenerating changes no file whose payload did not change.
        archive.writestr(zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    assert member.getvalue()[:6] == np.lib.format.MAGIC_PREFIX


CONTAINERS = {
    "pkl": ("pickle", lambda path, data: path.write_bytes(data)),
    "pt": ("torch", torch_zip),
    "joblib": ("joblib", lambda path, data: path.write_bytes(data)),
    "joblib.z": ("joblib", joblib_zlib),
    "npz": ("numpy", npz),
}


def container_encodings(supported: list[str]) -> list[str]:
    """A low-protocol shape and the memo-hidden one: enough for every container, without 6x the files."""
    low = next(e for e in ("p0", "p2", "p4", "raw") if e in supported)
    return [low] + [e for e in ("p5_memo",) if e in supported and e != low]


def benign_text(out: Path) -> None:
    """Text files a model repository really holds, written by the libraries that write them: the
    gate must keep admitting them however their first bytes read as opcodes."""
    from huggingface_hub import ModelCard, ModelCardData
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, PreTrainedTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    words = ["cos system exec eval import os subprocess Popen", "c os\nsystem\n(S'id'\ntR.", "the weights of a model"]
    tokenizer.train_from_iterator(words * 20, trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]", "[PAD]"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")
    fast.save_pretrained(str(out))
    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37).save_pretrained(
        str(out)
    )
    card = ModelCard.from_template(
        ModelCardData(license="mit", language="en", library_name="transformers", tags=["cos", "system"]),
        model_id="acme/tiny",
        model_description="cos\nsystem\n: a card that spells a GLOBAL line in its text.",
    )
    card.save(str(out / "README.md"))


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    benign_text(OUT / "benign")
    manifest: dict[str, dict[str, object]] = {}
    jobs: list[tuple[str, str]] = []
    for tech in bypasses.techniques():
        shapes = bypasses.payloads(tech)
        supported = list(shapes)
        for encoding, data in shapes.items():
            for suffix, (loader, write) in CONTAINERS.items():
                if suffix != "pkl" and encoding not in container_encodings(supported):
                    continue
                name = f"{tech.name}.{encoding}.{suffix}"
                write(OUT / name, data)
                manifest[name] = {"technique": tech.name, "encoding": encoding, "loader": loader, "names": tech.names}
                if tech.cannot_run:
                    manifest[name]["cannot_run"] = tech.cannot_run
                jobs.append((str(OUT / name), loader))
    ran = bypasses.prove(jobs, preload=("torch", "numpy", "joblib"))
    wrong = []
    for path, loader in jobs:
        entry = manifest[Path(path).name]
        entry["ran"] = ran[path]
        if ran[path] == bool(entry.get("cannot_run")):
            wrong.append(f"{Path(path).name} ({loader}): ran={ran[path]}")
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"{len(manifest)} files, {sum(bool(e['ran']) for e in manifest.values())} proven to run")
    if wrong:
        raise SystemExit("payloads that did not behave as declared:\n  " + "\n  ".join(wrong))


if __name__ == "__main__":
    main()
