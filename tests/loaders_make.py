"""Writes tiny models with the real libraries (run as a script: one process pays for their imports once).

`python -m tests.loaders_make OUT`: OUT/bert (a BertModel and its fast tokenizer), OUT/adapter (a
PEFT LoRA adapter whose config names `acme/bert-tiny` as its base), OUT/st (a sentence-transformers
model: the bert and a pooling module), OUT/pipe (a diffusers DDPM pipeline: unet/ and scheduler/).
Each part is skipped, with a line on stderr, when its library is not installed.
"""

from __future__ import annotations

import json
import os
import sys

BASE_REPO = "acme/bert-tiny"


def main(out: str) -> None:
    import torch

    torch.manual_seed(0)
    from transformers import BertConfig, BertModel, BertTokenizerFast

    cfg = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    bert = os.path.join(out, "bert")
    BertModel(cfg).save_pretrained(bert)
    vocab = os.path.join(out, "vocab.txt")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", *(f"w{i}" for i in range(25))]
    with open(vocab, "w") as f:
        f.write("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=vocab).save_pretrained(bert)
    try:  # a processor beside them (preprocessor_config.json), as multimodal repositories carry
        from transformers import ViTImageProcessor

        ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(bert)
    except ImportError as exc:
        print(f"skip the image processor: {exc}", file=sys.stderr)
    try:
        from peft import LoraConfig, get_peft_model

        adapter = os.path.join(out, "adapter")
        peft_model = get_peft_model(BertModel.from_pretrained(bert), LoraConfig(r=2, target_modules=["query"]))
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # LoRA starts at zero: make the adapter change the output
                torch.nn.init.constant_(param, 0.5)
        peft_model.save_pretrained(adapter)
        config_path = os.path.join(adapter, "adapter_config.json")
        with open(config_path) as f:
            config = json.load(f)
        config["base_model_name_or_path"] = BASE_REPO
        with open(config_path, "w") as f:
            json.dump(config, f)
    except ImportError as exc:
        print(f"skip peft: {exc}", file=sys.stderr)
    try:
        from sentence_transformers import SentenceTransformer, models

        word = models.Transformer(bert)
        pooling = models.Pooling(word.get_word_embedding_dimension())
        SentenceTransformer(modules=[word, pooling]).save(os.path.join(out, "st"))
    except ImportError as exc:
        print(f"skip sentence-transformers: {exc}", file=sys.stderr)
    try:
        from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

        unet = UNet2DModel(
            sample_size=8,
            in_channels=1,
            out_channels=1,
            layers_per_block=1,
            block_out_channels=(8,),
            down_block_types=("DownBlock2D",),
            up_block_types=("UpBlock2D",),
            norm_num_groups=4,
        )
        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(
            os.path.join(out, "pipe")
        )
    except ImportError as exc:
        print(f"skip diffusers: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
