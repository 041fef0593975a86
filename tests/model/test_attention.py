"""The reference attention against attention written out by hand, on ring and full caches."""

from __future__ import annotations

import math

import pytest
import torch
from neurodebug.model.attention import reference_attention, select_attention
from neurodebug.model.cache import KVCache
from neurodebug.model.errors import ModelError


def naive(q, k, v, start_pos, window):
    """Attention over full-length keys/values [B, Hkv, T, D] (slot = position), head by head."""
    B, Hq, C, D = q.shape
    G = Hq // k.shape[1]
    out = torch.zeros_like(q)
    for h in range(Hq):
        for c in range(C):
            i = start_pos + c
            lo = 0 if window is None else max(0, i - window + 1)
            s = (q[:, h, c, None] * k[:, h // G, lo : i + 1]).sum(-1) / math.sqrt(D)
            out[:, h, c] = (torch.softmax(s, -1)[..., None] * v[:, h // G, lo : i + 1]).sum(1)
    return out


@pytest.mark.parametrize("window,chunks", [(None, [5, 1, 1, 7, 1]), (6, [3, 1, 1, 4, 1, 1, 4, 2, 1]), (4, [1] * 14)])
@pytest.mark.parametrize("hq,hkv", [(4, 4), (4, 2), (6, 1)])
def test_reference_matches_naive_on_a_cache_written_chunk_by_chunk(window, chunks, hq, hkv):
    torch.manual_seed(0)
    T, D = sum(chunks), 8
    q = torch.randn(1, hq, T, D)
    k, v = torch.randn(1, hkv, T, D), torch.randn(1, hkv, T, D)
    cache = KVCache(hkv, D, None if window is None else window + max(chunks), torch.float32, "cpu")
    pos = 0
    for c in chunks:
        cache.reserve(pos + c)
        kc, vc = cache.update(pos, k[:, :, pos : pos + c], v[:, :, pos : pos + c])
        got = reference_attention(q[:, :, pos : pos + c], kc, vc, pos, window)
        want = naive(q[:, :, pos : pos + c], k, v, pos, window)
        assert torch.allclose(got, want, atol=1e-5), (pos, c)
        pos += c
    if window is not None:
        assert cache.size == window + max(chunks)  # the ring never outgrew window + slack


def test_output_keeps_the_query_dtype():
    q = torch.randn(1, 2, 3, 8, dtype=torch.bfloat16)
    k = torch.randn(1, 1, 3, 8, dtype=torch.bfloat16)
    assert reference_attention(q, k, k, 0, None).dtype == torch.bfloat16


def test_selection():
    assert select_attention("auto", "cpu")[0] == "reference"
    assert select_attention("reference", "cpu")[0] == "reference"
    with pytest.raises(ModelError):
        select_attention("flash", "cpu")
