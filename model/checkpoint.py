"""Checkpoints in Hugging Face layout: find them, load them into a Transformer, write them.

A checkpoint is a directory with `config.json`, one or many `*.safetensors` (with
`model.safetensors.index.json` when sharded) and a tokenizer; or a Hugging Face repo id found in
the local Hugging Face cache (never the network). The model is built on the meta device without
initialising a parameter (`empty_modules`) and each tensor is read straight into place, so a 32B
checkpoint is never held twice in memory.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from neurodebug.model.config import ModelConfig
from neurodebug.model.errors import ModelError
from neurodebug.model.hub import resolve
from neurodebug.model.integrity import check_weights
from neurodebug.model.model import Transformer, rope_frequencies
from neurodebug.model.quantize import Int8Embedding, Int8Linear, quantize_rows, swap_for_int8

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def pick_dtype(dtype, config: ModelConfig, device: torch.device) -> torch.dtype:
    if dtype is None:
        dtype = config.torch_dtype or ("bfloat16" if device.type == "cuda" else "float32")
    if isinstance(dtype, torch.dtype):
        if dtype in DTYPES.values():
            return dtype
    elif str(dtype) in DTYPES:
        return DTYPES[str(dtype)]
    raise ModelError(f"Unsupported dtype {dtype}; use float32, bfloat16 or float16.")


def _hf_names(name: str, config: ModelConfig) -> list[str]:
    """The checkpoint tensors (Hugging Face names) that make up our tensor `name`, concatenated."""
    if name == "tok_embeddings.weight":
        return ["model.embed_tokens.weight"]
    if name == "norm.weight":
        return ["model.norm.weight"]
    if name == "output.weight":
        return ["model.embed_tokens.weight" if config.tie_word_embeddings else "lm_head.weight"]
    parts = name.split(".")  # layers.<i>.<block>[.<part>].weight
    pre = f"model.layers.{parts[1]}."
    return {
        "attention.wqkv": [pre + "self_attn.q_proj.weight", pre + "self_attn.k_proj.weight", pre + "self_attn.v_proj.weight"],
        "attention.wo": [pre + "self_attn.o_proj.weight"],
        "feed_forward.w13": [pre + "mlp.gate_proj.weight", pre + "mlp.up_proj.weight"],
        "feed_forward.w2": [pre + "mlp.down_proj.weight"],
        "attention_norm": [pre + "input_layernorm.weight"],
        "ffn_norm": [pre + "post_attention_layernorm.weight"],
    }[".".join(parts[2:-1])]


class _Shards:
    """Tensor name -> safetensors file, opened lazily, for one or many shards."""

    def __init__(self, directory: Path, device: torch.device):
        from safetensors import safe_open

        self._open, self.device, self.files = safe_open, device, {}
        index = directory / "model.safetensors.index.json"
        if index.is_file():
            weight_map = json.loads(index.read_text())["weight_map"]
            self.where = {k: directory / f for k, f in weight_map.items()}
        else:
            self.where = {}
            for f in sorted(directory.glob("*.safetensors")):
                with safe_open(str(f), framework="pt") as h:
                    self.where.update({k: f for k in h.keys()})
        if not self.where:
            raise ModelError(f"The checkpoint {directory} has no *.safetensors weights.")
        # Some exports drop the "model." prefix of the base model.
        for k in list(self.where):
            if not k.startswith(("model.", "lm_head.")):
                self.where.setdefault("model." + k, self.where[k])

    def get(self, name: str) -> torch.Tensor:
        if name not in self.where:
            raise ModelError(f"The checkpoint lacks the tensor {name}.")
        f = self.where[name]
        if f not in self.files:
            dev = self.device
            dev = f"cuda:{dev.index if dev.index is not None else torch.cuda.current_device()}" if dev.type == "cuda" else dev.type
            self.files[f] = self._open(str(f), framework="pt", device=dev)
        h = self.files[f]
        return h.get_tensor(name if name in h.keys() else name.removeprefix("model."))


class _SkipInit(TorchFunctionMode):
    """torch.nn.init's in-place initialisers (the ones a module's reset_parameters calls) as no-ops."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__module__", None) == "torch.nn.init":
            return kwargs["tensor"] if "tensor" in kwargs else args[0]
        return func(*args, **kwargs)


@contextlib.contextmanager
def empty_modules():
    """Modules built inside have parameters on the meta device with no values, not even random ones.

    For weights that are loaded right after: initialising them is wasted work, and the meta
    device's normal_ (nn.Embedding's init) imports torch._dynamo, ~1-2.5 s of a CLI's start.
    """
    with torch.device("meta"), _SkipInit():
        yield


#: A CPU load of a model below this many parameters copies its weights on one thread: the copies
#: are small and memory-bound, and a parallel one on a busy machine waits for threads that are not
#: running (the bundled 12M-parameter model on a busy 2-core machine: 0.08-0.17 s to load on one
#: thread, 0.66-1.29 s on two, in 5 alternating runs each).
ONE_THREAD_PARAMS = 1_000_000_000


@contextlib.contextmanager
def loading_threads(config: ModelConfig, device: torch.device):
    """Run the block on one torch thread when loading a small model on the CPU (see ONE_THREAD_PARAMS)."""
    before = torch.get_num_threads()
    if torch.device(device).type != "cpu" or before == 1 or config.param_count() >= ONE_THREAD_PARAMS:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_transformer(path, device="cpu", dtype=None, quantize: str | None = None) -> Transformer:
    """A Transformer in eval mode with the checkpoint's weights, on `device`, in `dtype`."""
    directory = resolve(path)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("CUDA was asked for but this machine has no usable CUDA device.")
    if quantize not in (None, "int8"):
        raise ModelError(f"Unknown quantization {quantize!r}; the only one is int8.")
    config = ModelConfig.from_file(directory)
    dtype = pick_dtype(dtype, config, device)
    check_weights(directory, config)  # one sentence for a damaged file, before any tensor is read
    with empty_modules():
        model = Transformer(config)
        if quantize == "int8":
            swap_for_int8(model, dtype)
    shards = _Shards(directory, device)
    with loading_threads(config, device):
        _load_weights(model, shards, config, dtype)
    model.inv_freq = rope_frequencies(config, device=device)
    return model.eval()


def _load_weights(model: Transformer, shards: _Shards, config: ModelConfig, dtype: torch.dtype) -> None:
    done: dict[str, tuple] = {}
    for mod_name, module in model.named_modules():
        for attr, t in list(module.named_parameters(recurse=False)) + list(module.named_buffers(recurse=False)):
            if attr == "inv_freq" or (attr == "scales" and isinstance(module, (Int8Linear, Int8Embedding))):
                continue
            name = f"{mod_name}.{attr}"
            sources = _hf_names(name, config)
            key = tuple(sources)
            if key in done:  # tied weights: share the tensors already loaded
                _assign(module, done[key])
                continue
            w = torch.cat([shards.get(s) for s in sources]) if len(sources) > 1 else shards.get(sources[0])
            if tuple(w.shape) != tuple(t.shape):
                raise ModelError(f"The checkpoint's {sources[0]} has shape {tuple(w.shape)}, expected {tuple(t.shape)}.")
            if isinstance(module, (Int8Linear, Int8Embedding)):
                q, scale = quantize_rows(w)
                values = (q, scale.to(dtype))
            else:
                values = (w.to(dtype),)
            _assign(module, values)
            done[key] = values
            del w


def _assign(module: nn.Module, values: tuple) -> None:
    if isinstance(module, (Int8Linear, Int8Embedding)):
        module.weight, module.scales = values
    else:
        module.weight = nn.Parameter(values[0], requires_grad=False)


def save_checkpoint(model: Transformer, directory, dtype=torch.float32, extra_config: dict | None = None) -> Path:
    """Write `model` (not quantized) as a Hugging Face CWM checkpoint: config.json + model.safetensors.

    The result loads with load_model and with transformers' CwmForCausalLM.
    """
    from safetensors.torch import save_file

    config = model.config
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    D, H, K = config.head_dim, config.n_heads, config.n_kv_heads
    out = {"model.embed_tokens.weight": model.tok_embeddings.weight, "model.norm.weight": model.norm.weight}
    if not config.tie_word_embeddings:
        out["lm_head.weight"] = model.output.weight
    for i, layer in enumerate(model.layers):
        pre = f"model.layers.{i}."
        q, k, v = layer.attention.wqkv.weight.split([H * D, K * D, K * D])
        gate, up = layer.feed_forward.w13.weight.chunk(2)
        out.update({
            pre + "self_attn.q_proj.weight": q, pre + "self_attn.k_proj.weight": k,
            pre + "self_attn.v_proj.weight": v, pre + "self_attn.o_proj.weight": layer.attention.wo.weight,
            pre + "mlp.gate_proj.weight": gate, pre + "mlp.up_proj.weight": up,
            pre + "mlp.down_proj.weight": layer.feed_forward.w2.weight,
            pre + "input_layernorm.weight": layer.attention_norm.weight,
            pre + "post_attention_layernorm.weight": layer.ffn_norm.weight,
        })
    save_file({k: v.detach().to(dtype).contiguous().cpu() for k, v in out.items()},
              str(directory / "model.safetensors"), metadata={"format": "pt"})
    hf = config.to_hf()
    hf["torch_dtype"] = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]
    hf.update(extra_config or {})
    (directory / "config.json").write_text(json.dumps(hf, indent=2) + "\n")
    return directory
