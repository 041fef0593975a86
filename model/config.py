"""CWM's configuration, read from a Hugging Face `config.json`.

Accepts `model_type` "cwm" and "llama" alike and honours `layer_types` and `sliding_window`
whatever the model type says: the published CWM config says "llama" yet needs sliding layers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from neurodebug.model.errors import ModelError

GLOBAL = "full_attention"
SLIDING = "sliding_attention"


@dataclass
class ModelConfig:
    vocab_size: int = 128256
    dim: int = 6144
    n_layers: int = 64
    n_heads: int = 48
    n_kv_heads: int = 8
    head_dim: int = 128
    intermediate_size: int = 21504
    norm_eps: float = 1e-5
    rope_theta: float = 1_000_000.0
    # Llama 3 frequency scaling: {factor, low_freq_factor, high_freq_factor,
    # original_max_position_embeddings}; None means plain rotary embeddings.
    rope_scaling: dict | None = None
    sliding_window: int | None = 8192
    layer_types: list[str] = field(default_factory=list)
    max_position_embeddings: int = 131072
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 128000
    eos_token_id: list[int] = field(default_factory=list)
    model_type: str = "cwm"
    torch_dtype: str | None = None

    def __post_init__(self):
        if not self.layer_types:
            self.layer_types = [GLOBAL] * self.n_layers
        if len(self.layer_types) != self.n_layers:
            raise ModelError(
                f"The config lists {len(self.layer_types)} layer_types for {self.n_layers} layers."
            )
        bad = sorted(set(self.layer_types) - {GLOBAL, SLIDING})
        if bad:
            raise ModelError(f"The config has an unknown layer type {bad[0]!r}.")
        if SLIDING in self.layer_types and not self.sliding_window:
            raise ModelError("The config has sliding-window layers but no sliding_window size.")
        if self.n_heads % self.n_kv_heads:
            raise ModelError(
                f"The config has {self.n_heads} query heads, not a multiple of {self.n_kv_heads} KV heads."
            )

    def window(self, layer: int) -> int | None:
        """How many keys a query of this layer sees (itself included); None = all before it."""
        return self.sliding_window if self.layer_types[layer] == SLIDING else None

    @property
    def n_global(self) -> int:
        return self.layer_types.count(GLOBAL)

    @property
    def n_sliding(self) -> int:
        return self.layer_types.count(SLIDING)

    @classmethod
    def from_hf(cls, d: dict) -> "ModelConfig":
        """From the dict of a Hugging Face config.json (CWM's, or Llama's with CWM's fields)."""
        if not isinstance(d, dict):
            raise ModelError(f"The checkpoint's config.json holds a JSON {type(d).__name__}, not an object.")
        try:
            return cls._from_hf(d)
        except (TypeError, ValueError, ZeroDivisionError) as e:
            raise ModelError(f"The checkpoint's config.json has a field of the wrong type or value ({e}).") from None

    @classmethod
    def _from_hf(cls, d: dict) -> "ModelConfig":
        model_type = d.get("model_type", "cwm")
        if model_type not in ("cwm", "llama"):
            raise ModelError(f"The checkpoint's model_type {model_type!r} is not CWM or Llama.")
        if d.get("hidden_act", "silu") != "silu":
            raise ModelError(f"The checkpoint's activation {d['hidden_act']!r} is not SwiGLU (silu).")
        if d.get("attention_bias") or d.get("mlp_bias"):
            raise ModelError("The checkpoint uses biases in its linear layers, which CWM does not have.")
        try:
            n_layers = int(d["num_hidden_layers"])
            dim = int(d["hidden_size"])
            n_heads = int(d["num_attention_heads"])
            vocab_size = int(d["vocab_size"])
            intermediate = int(d["intermediate_size"])
        except KeyError as e:
            raise ModelError(f"The checkpoint's config.json lacks the field {e.args[0]!r}.") from None
        for key, value in (("num_hidden_layers", n_layers), ("hidden_size", dim), ("num_attention_heads", n_heads),
                           ("vocab_size", vocab_size), ("intermediate_size", intermediate)):
            if value < 1:
                raise ModelError(f"The checkpoint's config.json has {key} {value}; it must be positive.")
        n_kv = int(d.get("num_key_value_heads") or n_heads)
        head_dim = int(d.get("head_dim") or dim // n_heads)
        if n_kv < 1 or head_dim < 1:
            raise ModelError("The checkpoint's config.json has no positive num_key_value_heads and head_dim.")
        theta, scaling = _rope(d)
        window = d.get("sliding_window")
        window = int(window) if window else None
        layer_types = d.get("layer_types")
        if not layer_types and window and "window_pattern" in d:
            # Early CWM conversions spelled the pattern instead of listing it.
            p = int(d["window_pattern"])
            layer_types = [GLOBAL if i % p == 0 else SLIDING for i in range(n_layers)]
        elif not layer_types and window and model_type == "cwm":
            # CwmConfig's default: every 4th layer, from the first, is global.
            layer_types = [GLOBAL if i % 4 == 0 else SLIDING for i in range(n_layers)]
        eos = d.get("eos_token_id")
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        return cls(
            vocab_size=vocab_size,
            dim=dim,
            n_layers=n_layers,
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim=head_dim,
            intermediate_size=intermediate,
            norm_eps=float(d.get("rms_norm_eps", 1e-5)),
            rope_theta=theta,
            rope_scaling=scaling,
            sliding_window=window,
            layer_types=list(layer_types or []),
            max_position_embeddings=int(d.get("max_position_embeddings", 131072)),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=eos,
            model_type=model_type,
            torch_dtype=d.get("torch_dtype") or d.get("dtype"),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(f"There is no config.json at {path}.") from None
        except (OSError, ValueError) as e:
            raise ModelError(f"The config at {path} cannot be read as JSON ({e}).") from None
        return cls.from_hf(d)

    def to_hf(self) -> dict:
        """A Hugging Face config.json dict (model_type cwm) describing this model."""
        d = {
            "architectures": ["CwmForCausalLM"], "model_type": "cwm",
            "vocab_size": self.vocab_size, "hidden_size": self.dim, "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads, "num_key_value_heads": self.n_kv_heads,
            "head_dim": self.head_dim, "intermediate_size": self.intermediate_size, "hidden_act": "silu",
            "rms_norm_eps": self.norm_eps, "max_position_embeddings": self.max_position_embeddings,
            "sliding_window": self.sliding_window, "layer_types": list(self.layer_types),
            "tie_word_embeddings": self.tie_word_embeddings, "bos_token_id": self.bos_token_id,
            "eos_token_id": list(self.eos_token_id), "mlp_bias": False, "attention_dropout": 0.0,
        }
        rope = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling:
            rope = {"rope_type": "llama3", "rope_theta": self.rope_theta, **self.rope_scaling}
        d["rope_parameters"] = rope
        return d

    def param_count(self) -> int:
        attn = self.dim * self.head_dim * (2 * self.n_heads + 2 * self.n_kv_heads)
        mlp = 3 * self.dim * self.intermediate_size
        per_layer = attn + mlp + 2 * self.dim
        embed = self.vocab_size * self.dim
        head = 0 if self.tie_word_embeddings else self.vocab_size * self.dim
        return self.n_layers * per_layer + embed + head + self.dim

    def kv_bytes(self, context: int, bytes_per_value: int = 2, slack: int = 0) -> int:
        """KV cache bytes for `context` tokens: global layers hold all of them, sliding layers a
        ring of min(context, window + slack)."""
        per_pos = 2 * self.n_kv_heads * self.head_dim * bytes_per_value
        total = 0
        for i in range(self.n_layers):
            w = self.window(i)
            total += per_pos * (context if w is None else min(context, w + slack))
        return total


def _rope(d: dict) -> tuple[float, dict | None]:
    """(theta, llama3 scaling or None) from `rope_parameters` (transformers 5) or `rope_scaling`."""
    params = dict(d.get("rope_parameters") or d.get("rope_scaling") or {})
    theta = float(params.get("rope_theta", d.get("rope_theta", 1_000_000.0 if d.get("model_type") == "cwm" else 10000.0)))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind in (None, "default"):
        return theta, None
    if kind != "llama3":
        raise ModelError(f"The checkpoint uses {kind!r} rotary scaling; only llama3 scaling is supported.")
    scaling = {
        "factor": float(params["factor"]),
        "low_freq_factor": float(params.get("low_freq_factor", 1.0)),
        "high_freq_factor": float(params.get("high_freq_factor", 4.0)),
        "original_max_position_embeddings": int(
            params.get("original_max_position_embeddings", d.get("max_position_embeddings", 8192))
        ),
    }
    return theta, scaling
