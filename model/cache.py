"""The KV cache: one small buffer pair per layer, sized by what the layer can see.

A global layer keeps every position (slot = position); a sliding-window layer keeps a ring of
W + slack slots (slot = position % size), so that a 131k-token context of CWM costs the KV memory
of its 16 global layers plus 48 windows. Buffers grow by doubling up to their limit, so a short
sequence never pays for the whole context.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, n_kv_heads: int, head_dim: int, limit: int | None, dtype, device, batch: int = 1):
        self.shape = (batch, n_kv_heads, 0, head_dim)
        self.limit = limit  # ring size of a sliding layer; None: unbounded (a global layer)
        self.k = torch.zeros(self.shape, dtype=dtype, device=device)
        self.v = torch.zeros(self.shape, dtype=dtype, device=device)
        self.high_water = -1  # highest position ever written; tells which ring slots are intact

    @property
    def size(self) -> int:
        return self.k.shape[2]

    def reserve(self, length: int) -> None:
        """Make room for positions 0..length-1 (a ring never grows past its limit)."""
        want = length if self.limit is None else min(length, self.limit)
        if want <= self.size:
            return
        new = max(want, 2 * self.size)
        if self.limit is not None:
            new = min(new, self.limit)
        # Growth happens only before a ring wraps, so slot = position still holds for old entries.
        k = self.k.new_zeros(self.shape[:2] + (new,) + self.shape[3:])
        v = self.v.new_zeros(k.shape)
        k[:, :, : self.size] = self.k
        v[:, :, : self.size] = self.v
        self.k, self.v = k, v

    def update(self, start_pos, k: torch.Tensor, v: torch.Tensor):
        """Write keys/values [B, Hkv, C, D] of positions start_pos.. and return the buffers.

        start_pos may be an integer tensor of one element on the cache's device (the CUDA-graph
        decode step): the slots are then computed on the device, and high_water is the caller's
        to update."""
        C = k.shape[2]
        S = self.size
        if isinstance(start_pos, torch.Tensor):
            slots = (start_pos.reshape(1) + torch.arange(C, device=k.device)) % S
            self.k.index_copy_(2, slots, k)
            self.v.index_copy_(2, slots, v)
            return self.k, self.v
        first = start_pos % S
        if first + C <= S:
            self.k.narrow(2, first, C).copy_(k)
            self.v.narrow(2, first, C).copy_(v)
        else:
            slots = torch.arange(start_pos, start_pos + C, device=k.device) % S
            self.k[:, :, slots] = k
            self.v[:, :, slots] = v
        self.high_water = max(self.high_water, start_pos + C - 1)
        return self.k, self.v

    def keeps(self, n: int, window: int) -> bool:
        """Whether, after cutting the sequence back to n tokens, this ring still holds every key the
        next query (at position n) can see, positions n-window+1 .. n-1."""
        if self.limit is None or n == 0:
            return True
        # A slot of position p is intact when nothing after p landed on it: p > high_water - size.
        return max(0, n - window + 1) > self.high_water - self.size

    def clone(self) -> "KVCache":
        c = KVCache.__new__(KVCache)
        c.shape, c.limit, c.high_water = self.shape, self.limit, self.high_water
        c.k, c.v = self.k.clone(), self.v.clone()
        return c

    def nbytes(self) -> int:
        return self.k.numel() * self.k.element_size() * 2
