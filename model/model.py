"""CWM's architecture: Llama-3-style blocks with per-layer global or sliding-window attention.

Reads top to bottom: Transformer, TransformerBlock, Attention, FeedForward, RMSNorm, then the
rotary embedding functions. Checkpoint differences (Hugging Face names, separate q/k/v and
gate/up weights) are absorbed by the loader in `checkpoint.py`; this file only computes.

A decode step of a small model on a CPU costs per operation, not per FLOP, so the forward keeps
its operations few (benchmarks/forward_speed.py measures it against a plain forward): rows
[B*T, dim] between the blocks, one fused norm kernel, a rope table, and the blocks call their
submodules' ``forward`` directly (``nn.Module.__call__`` costs ~4 us of hook checks a call, ~70
calls a step; no hooks are ever set on these modules).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from neurodebug.model.attention import reference_attention
from neurodebug.model.config import ModelConfig


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(TransformerBlock(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.register_buffer("inv_freq", rope_frequencies(config), persistent=False)
        # The attention backend used with a KV cache (see attention.py); training uses the reference.
        self.attention_fn = reference_attention
        self._rope_table: RopeTable | None = None

    def forward(self, idx: torch.Tensor, caches=None, start_pos: int = 0, logits: str = "all"):
        """Logits [B, T, V] for tokens idx [B, T] at positions start_pos.. .

        start_pos may be an integer tensor of one element, read on the device (with caches and
        an attention backend that accepts it: the Triton one), so that one captured CUDA graph
        serves every decode position.

        Without caches this is the plain training forward (causal + sliding-window masks per layer).
        With caches (one KVCache per layer) only the new tokens are computed; the caches must hold
        every earlier position these tokens can see. logits="last" gives [B, 1, V]; "none" only
        fills the caches and returns None (the vocabulary projection is the costly part).
        """
        if caches is None and start_pos:
            raise ValueError("Without a cache the forward pass starts at position 0.")
        B, T = idx.shape
        # The blocks work on rows [B*T, dim]: a matmul of a 2-D input is one call, no reshaping.
        x = self.tok_embeddings(idx.reshape(B * T))
        cos, sin = self.rope(start_pos, T, x.dtype)
        for i, layer in enumerate(self.layers):
            x = layer.forward(x, cos, sin, start_pos, None if caches is None else caches[i], self.attention_fn)
        if logits == "none":
            return None
        if logits == "last":
            x, T = x.view(B, T, -1)[:, -1], 1
        return self.output(self.norm(x)).view(B, T, -1)

    def rope(self, start_pos, T: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and signed sin [T, D] of positions start_pos.. (see ``apply_rope``): slices of a
        table computed once (grown by doubling), or computed on the device from a tensor start_pos."""
        if isinstance(start_pos, torch.Tensor):
            return signed_rope(*rope_cos_sin(self.inv_freq, start_pos, T, dtype))
        table = self._rope_table
        if table is None or not table.serves(self.inv_freq, dtype, start_pos + T):
            table = self._rope_table = RopeTable(self.inv_freq, dtype, start_pos + T, table)
        return table.cos.narrow(0, start_pos, T), table.sin.narrow(0, start_pos, T)


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.attention = Attention(config, config.window(layer))
        self.feed_forward = FeedForward(config)
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)

    def forward(self, x, cos, sin, start_pos, cache, attention_fn):
        """x: rows [B*T, dim] of B sequences of T = len(cos) tokens each."""
        h = x + self.attention.forward(self.attention_norm.forward(x), cos, sin, start_pos, cache, attention_fn)
        return h + self.feed_forward.forward(self.ffn_norm.forward(h))


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, window: int | None):
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = config.n_heads, config.n_kv_heads, config.head_dim
        self.window = window
        # q, k and v projections fused into one matmul (the loader concatenates the checkpoint's).
        self.wqkv = nn.Linear(config.dim, (config.n_heads + 2 * config.n_kv_heads) * config.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)

    def forward(self, x, cos, sin, start_pos, cache, attention_fn):
        T = cos.shape[0]
        B = x.shape[0] // T
        H, K = self.n_heads, self.n_kv_heads
        qkv = self.wqkv.forward(x).view(B, T, H + 2 * K, self.head_dim)
        qk, v = qkv.split_with_sizes([H + K, K], dim=2)
        qk = apply_rope(qk, cos.unsqueeze(1), sin.unsqueeze(1))  # q and k heads rotated at once
        q, k = (t.transpose(1, 2) for t in qk.split_with_sizes([H, K], dim=2))
        v = v.transpose(1, 2)
        if cache is None:
            # The sequence is its own cache: S = T >= every position, slot = position.
            y = reference_attention(q, k, v, start_pos, self.window)
        else:
            k_all, v_all = cache.update(start_pos, k, v)
            y = attention_fn(q, k_all, v_all, start_pos, self.window)
        return self.wo.forward(y.transpose(1, 2).reshape(B * T, H * self.head_dim))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(x W_gate) * x W_up), with gate and up fused into one matmul (w13)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.w13 = nn.Linear(config.dim, 2 * config.intermediate_size, bias=False)
        self.w2 = nn.Linear(config.intermediate_size, config.dim, bias=False)

    def forward(self, x):
        gate, up = self.w13.forward(x).chunk(2, dim=-1)
        return self.w2.forward(F.silu(gate) * up)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # Normalise in float32 like the reference implementation, scale in the model's dtype (one
        # fused kernel in float32, bit for bit the same as x * rsqrt(mean(x^2) + eps) * weight).
        if x.dtype == torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return self.weight * F.rms_norm(x.float(), self.weight.shape, eps=self.eps).to(x.dtype)


def column_major_linears(model: nn.Module) -> nn.Module:
    """Store each nn.Linear's weight [out, in] column-major (its transpose contiguous): the same
    values, shape and checkpoint, but ``F.linear`` then multiplies by a contiguous W.T, which MKL
    does faster for the few rows of a decode or verify step on a CPU (measured in
    benchmarks/forward_speed.py). A weight shared with another module (tied embeddings) stays."""
    users: dict[int, int] = {}  # by storage: the loader ties weights as two Parameters of one tensor
    for _, p in model.named_parameters(remove_duplicate=False):
        users[p.data_ptr()] = users.get(p.data_ptr(), 0) + 1
    for module in model.modules():
        w = getattr(module, "weight", None)
        if isinstance(module, nn.Linear) and users.get(w.data_ptr()) == 1 and w.dim() == 2 and w.is_contiguous():
            module.weight = nn.Parameter(w.detach().t().contiguous().t(), requires_grad=w.requires_grad)
    return model


def rope_frequencies(config: ModelConfig, device=None) -> torch.Tensor:
    """Inverse frequencies [D/2] of the rotary embedding, with Llama 3's scaling when configured."""
    D = config.head_dim
    if (torch.device(device) if device is not None else torch.get_default_device()).type == "meta":
        # no values to compute (and the meta device's arange and arithmetic import torch._dynamo)
        return torch.empty(D // 2, dtype=torch.float32, device="meta")
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, D, 2, device=device).float() / D))
    s = config.rope_scaling
    if not s:
        return inv_freq
    factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_len = s["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    # Long wavelengths are divided by factor, short ones kept, the band between interpolated.
    scaled = torch.where(wavelen > old_len / lo, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - lo) / (hi - lo)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / hi) & (wavelen <= old_len / lo)
    return torch.where(medium, smoothed, scaled)


def rope_cos_sin(inv_freq: torch.Tensor, start_pos, T: int, dtype):
    """start_pos: an int, or an integer tensor of one element (the CUDA-graph decode step)."""
    if isinstance(start_pos, torch.Tensor):
        pos = start_pos.reshape(1).to(torch.float32) + torch.arange(T, device=inv_freq.device, dtype=torch.float32)
    else:
        pos = torch.arange(start_pos, start_pos + T, device=inv_freq.device, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def signed_rope(cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin with its first half negated): what ``apply_rope`` takes."""
    half = sin.shape[-1] // 2
    return cos, torch.cat((-sin[..., :half], sin[..., half:]), dim=-1)


class RopeTable:
    """cos and signed sin of positions 0..length-1, built outside inference mode (a table made
    while decoding also serves a training forward) and without autograd."""

    def __init__(self, inv_freq: torch.Tensor, dtype, length: int, old: "RopeTable | None" = None):
        length = max(length, 2 * old.length if old is not None and old.dtype == dtype else 0, 256)
        with torch.inference_mode(False), torch.no_grad():
            self.cos, self.sin = signed_rope(*rope_cos_sin(inv_freq, 0, length, dtype))
        self.inv_freq, self.dtype, self.length = inv_freq, dtype, length

    def serves(self, inv_freq: torch.Tensor, dtype, length: int) -> bool:
        return inv_freq is self.inv_freq and dtype == self.dtype and length <= self.length


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., T, D] (cos, sin [T, D]) or [..., T, H, D] (cos, sin [T, 1, D]) by position,
    in the Hugging Face half-split layout: x * cos + cat(-x2, x1) * sin, with sin signed by
    ``signed_rope`` so that the rotated halves are one roll (bit for bit the same)."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin
