"""Attention over a KV cache: the PyTorch reference (the definition of correct) and the choice
between it and the Triton kernels of `model/triton_attention.py`.

The contract every backend implements:

    attention(q, k_cache, v_cache, start_pos, window) -> out
    q: [B, Hq, C, D], already rotated; queries at absolute positions start_pos .. start_pos+C-1.
    k_cache, v_cache: [B, Hkv, S, D]; absolute position p is stored at slot p % S, and every key
      a query can see has been written before the call.
      Global layer: S >= total length, window=None (a query at i sees keys 0..i).
      Sliding layer: a ring with S = W + slack (slack >= largest chunk), window=W (keys i-W+1..i).
    Hq % Hkv == 0 (grouped-query attention), scale 1/sqrt(D), output in q's dtype.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

import torch
import torch.nn.functional as F
from neurodebug.model.errors import ModelError

AttentionFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int, "int | None"], torch.Tensor]


def slot_positions(start_pos: int, n_queries: int, n_slots: int, size: int, device) -> torch.Tensor:
    """The absolute position held by each of the first n_slots slots of a cache of `size` slots
    once positions up to start_pos+n_queries-1 are written (negative: never written)."""
    last = start_pos + n_queries - 1
    s = torch.arange(n_slots, device=device)
    return s + size * torch.div(last - s, size, rounding_mode="floor")


def attention_mask(start_pos: int, n_queries: int, keys: torch.Tensor, window: int | None) -> torch.Tensor:
    """[C, n] boolean mask: query i sees key at position p when 0 <= p <= i and p > i - window."""
    q = torch.arange(start_pos, start_pos + n_queries, device=keys.device)[:, None]
    k = keys[None, :]
    mask = (k >= 0) & (k <= q)
    if window is not None:
        mask &= k > q - window
    return mask


@functools.lru_cache(maxsize=8)
def _mask(start_pos: int, C: int, n: int, S: int, window: int | None, device, dtype, inference: bool):
    # Every layer of one forward step shares the mask of its kind: build it once, as the additive
    # float mask SDPA would otherwise make of a boolean one in every layer (keyed on inference
    # mode too, since a mask made under inference_mode cannot take part in autograd).
    seen = attention_mask(start_pos, C, slot_positions(start_pos, C, n, S, device), window)
    return torch.zeros(seen.shape, dtype=dtype, device=device).masked_fill_(~seen, float("-inf"))


def sees_every_key(start_pos: int, C: int, n: int, window: int | None) -> bool:
    """Whether the one query (C = 1) at start_pos sees every one of the first n slots: they hold
    positions 0..start_pos (a cache that has not wrapped) and the window reaches back to 0."""
    return C == 1 and n == start_pos + 1 and (window is None or window > start_pos)


def reference_attention(q, k_cache, v_cache, start_pos: int, window: int | None):
    B, Hq, C, D = q.shape
    S = k_cache.shape[2]
    # Slots past the last written position of a cache that has not wrapped hold nothing: skip them.
    n = min(S, start_pos + C)
    k, v = k_cache.narrow(2, 0, n), v_cache.narrow(2, 0, n)
    gqa = Hq != k.shape[1]
    if start_pos == 0 and n == C and (window is None or window >= C):
        # A fresh prompt that fits in the window: plain causal attention (the fast kernel on CPU).
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if sees_every_key(start_pos, C, n, window):  # one decoded token: nothing to mask
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
    mask = _mask(start_pos, C, n, S, window, q.device, q.dtype, torch.is_inference_mode_enabled())
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)


def select_attention(name: str, device: torch.device | str) -> tuple[str, AttentionFn]:
    """("reference" | "triton", function) for attention="auto" | "reference" | "triton"."""
    device = torch.device(device)
    if name == "reference":
        return "reference", reference_attention
    if name not in ("auto", "triton"):
        raise ModelError(f"Unknown attention backend {name!r}; use auto, reference or triton.")
    if name == "auto" and device.type != "cuda":
        return "reference", reference_attention
    try:
        from neurodebug.model.triton_attention import attention as triton_attention
    except Exception as e:  # noqa: BLE001 - any import failure means: no Triton here
        if name == "triton":
            raise ModelError(f"The Triton attention backend cannot be loaded ({e}).") from None
        return "reference", reference_attention
    if name == "triton" and device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ModelError("The Triton attention backend needs a CUDA device (or TRITON_INTERPRET=1).")
    return "triton", triton_attention
