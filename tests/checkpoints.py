"""Small random CWM checkpoints for tests, written by transformers' CwmForCausalLM.save_pretrained.

    from tests.checkpoints import make_checkpoint
    path = make_checkpoint(tmp_path / "ckpt")            # 4 layers, window 16, GQA 2, real tokenizer

The directory is a real Hugging Face checkpoint (config.json + model.safetensors) with Llama 3's
tokenizer.model beside it (the file CWM ships; its 256 special tokens sit at 128000-128255), so the
whole stack (tokenizer, codec, runtime, transformers backend) runs on it. The `cwm_checkpoint`
fixture in conftest.py makes one per test session.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

LLAMA3_VOCAB = 128256  # 128000 BPE ranks + CWM's 256 special tokens


def llama3_tokenizer_model() -> Path:
    """Llama 3's tiktoken file, shipped by the llama-models package."""
    import llama_models

    return Path(llama_models.__file__).parent / "llama3" / "tokenizer.model"


def make_checkpoint(
    directory,
    *,
    hidden: int = 64,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    head_dim: int | None = None,
    intermediate: int = 128,
    window: int = 16,
    layer_types: list[str] | None = None,
    vocab: int | None = None,
    tie: bool = False,
    tokenizer: bool = True,
    model_type: str = "cwm",
    seed: int = 0,
    dtype: str = "float32",
    init_std: float = 0.2,
) -> Path:
    """Write a random CWM checkpoint and return its directory.

    layer_types defaults to sliding, global, sliding, global, ... (both kinds in every checkpoint).
    vocab defaults to Llama 3's 128256 when a tokenizer is written, else 512.
    model_type="llama" writes the config the way the published CWM config does (Llama's model_type
    with CWM's layer_types and sliding_window); transformers must be told to load it as CWM.
    init_std: weights are drawn wider than transformers' default 0.02 so that logits differ
    clearly between tokens (greedy parity then means something).
    """
    import torch
    from transformers import CwmConfig, CwmForCausalLM

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if vocab is None:
        vocab = LLAMA3_VOCAB if tokenizer else 512
    if layer_types is None:
        layer_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)]
    config = CwmConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim or hidden // heads,
        sliding_window=window,
        layer_types=layer_types,
        tie_word_embeddings=tie,
        max_position_embeddings=131072,
        bos_token_id=128000 if vocab > 128000 else 0,
        eos_token_id=[128001, 128008, 128009] if vocab > 128009 else [1],
        initializer_range=init_std,
    )
    torch.manual_seed(seed)
    model = CwmForCausalLM(config).to(getattr(torch, dtype))
    with torch.no_grad():
        # Norm weights start at 1; vary them so a mix-up of norms cannot go unnoticed.
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    model.save_pretrained(directory)
    if model_type == "llama":
        cfg = json.loads((directory / "config.json").read_text())
        cfg["model_type"] = "llama"
        cfg["architectures"] = ["LlamaForCausalLM"]
        (directory / "config.json").write_text(json.dumps(cfg, indent=2))
    if tokenizer:
        shutil.copy(llama3_tokenizer_model(), directory / "tokenizer.model")
    return directory


def load_reference(directory):
    """transformers' CwmForCausalLM on a checkpoint, also one whose config says model_type llama."""
    import torch
    from transformers import CwmConfig, CwmForCausalLM

    cfg = json.loads((Path(directory) / "config.json").read_text())
    cfg.pop("model_type", None)
    cfg.pop("architectures", None)
    config = CwmConfig(**{k: v for k, v in cfg.items() if k not in ("transformers_version", "dtype", "torch_dtype")})
    model = CwmForCausalLM.from_pretrained(directory, config=config, dtype=torch.float32, attn_implementation="eager")
    return model.eval()
