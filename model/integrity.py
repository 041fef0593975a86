"""Checks a checkpoint's weight files before anything loads them (no torch, headers only).

A truncated download or a hand-edited index otherwise fails deep inside safetensors or the
runtime with a traceback; :func:`check_weights` says what is wrong in one sentence instead
(a ModelError): a shard the index names is missing, a file's header is unreadable or does not
cover the file, or a tensor the config needs is missing or has the wrong shape. It reads
only the safetensors headers, so it costs milliseconds even for a large checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from neurodebug.model.config import ModelConfig
from neurodebug.model.errors import ModelError

INDEX = "model.safetensors.index.json"


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Hugging Face tensor name -> shape for every weight a CWM checkpoint with ``config`` holds."""
    D, H, K, dim, inter = config.head_dim, config.n_heads, config.n_kv_heads, config.dim, config.intermediate_size
    out = {"model.embed_tokens.weight": (config.vocab_size, dim), "model.norm.weight": (dim,)}
    if not config.tie_word_embeddings:
        out["lm_head.weight"] = (config.vocab_size, dim)
    for i in range(config.n_layers):
        pre = f"model.layers.{i}."
        out.update({
            pre + "self_attn.q_proj.weight": (H * D, dim), pre + "self_attn.k_proj.weight": (K * D, dim),
            pre + "self_attn.v_proj.weight": (K * D, dim), pre + "self_attn.o_proj.weight": (dim, H * D),
            pre + "mlp.gate_proj.weight": (inter, dim), pre + "mlp.up_proj.weight": (inter, dim),
            pre + "mlp.down_proj.weight": (dim, inter),
            pre + "input_layernorm.weight": (dim,), pre + "post_attention_layernorm.weight": (dim,),
        })
    return out


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint: those its index names, else every *.safetensors."""
    index = directory / INDEX
    if not index.is_file():
        files = sorted(directory.glob("*.safetensors"))
        if not files:
            raise ModelError(f"The checkpoint {directory} has no *.safetensors weights.")
        return files
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise ModelError(f"The checkpoint's {INDEX} is not a valid safetensors index (no weight_map).") from None
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise ModelError(f"The checkpoint's {INDEX} names {missing[0]}, which is not in {directory}.")
    return [directory / n for n in names]


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor in one safetensors file; a damaged file is a ModelError."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as h:
            return {k: tuple(h.get_slice(k).get_shape()) for k in h.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"The weight file {path} is damaged or incomplete ({why}).") from None


def check_weights(directory, config: ModelConfig | None = None) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, after checking the files are whole and hold what the config needs."""
    directory = Path(directory)
    config = config or ModelConfig.from_file(directory)
    shapes: dict[str, tuple[int, ...]] = {}
    for f in weight_files(directory):
        shapes.update(tensor_shapes(f))
    for name, shape in expected_shapes(config).items():
        # some exports drop the "model." prefix of the base model
        found = shapes.get(name, shapes.get(name.removeprefix("model.")))
        if found is None:
            raise ModelError(f"The checkpoint {directory} lacks the tensor {name}.")
        if found != shape:
            raise ModelError(f"The checkpoint's {name} has shape {found}, but its config.json needs {shape}.")
    return shapes
