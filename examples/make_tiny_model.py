"""Write examples/tiny-model: a few KB model directory for the README's offline first run.

Run once with the real libraries (`pip install numpy safetensors tokenizers`); the output is
committed, so the README works without them. The bytes are deterministic (a seeded generator,
sorted keys), so running it again changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

OUT = Path(__file__).resolve().parent / "tiny-model"
WORDS = "the a model lock sync verify weights file safe bytes hash store pin commit".split()
HIDDEN = 8


def main() -> None:
    OUT.mkdir(exist_ok=True)
    vocab = {token: i for i, token in enumerate(["[UNK]", "[PAD]", *WORDS])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(OUT / "tokenizer.json"))
    config = {
        "architectures": ["TinyEmbeddingModel"],
        "model_type": "tiny-example",
        "hidden_size": HIDDEN,
        "vocab_size": len(vocab),
        "note": "an example for modellock's README: random weights, no use beyond locking",
    }
    (OUT / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rng = np.random.default_rng(0)
    tensors = {
        "embed.weight": rng.standard_normal((len(vocab), HIDDEN)).astype(np.float32),
        "head.bias": np.zeros(len(vocab), dtype=np.float32),
    }
    save_file(tensors, str(OUT / "model.safetensors"), metadata={"format": "np"})


if __name__ == "__main__":
    main()
