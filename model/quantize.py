"""Weight-only int8 quantization with one scale per output channel (per row).

Weights are stored as int8 and dequantized inside each matmul, halving weight memory against
bf16 so that CWM's 32B parameters fit one 80 GB GPU with room for the KV cache. Modules are
swapped before the weights are loaded (on the meta device), and the loader quantizes each tensor
as it reads it, so the full-precision model never exists in memory. On CUDA, a few rows (decoding)
go through the Triton kernel of model/triton_int8.py, which reads each int8 weight once.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


def quantize_rows(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight, float32 scale per row) with w ~= q * scale[:, None]."""
    w = w.float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-10)
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


# The Triton decode kernel, imported at its first use on CUDA: triton is a dev extra, and CPU runs
# never import it. None until then; False when it is unavailable (the dequantizing path runs instead).
_int8_matmul = None
_KERNEL_DTYPES = (torch.bfloat16, torch.float16, torch.float32)


def _cuda_int8_matmul():
    global _int8_matmul
    if _int8_matmul is None:
        try:
            from neurodebug.model.triton_int8 import int8_matmul
        except Exception:  # noqa: BLE001 - triton missing or broken
            _int8_matmul = False
        else:
            _int8_matmul = int8_matmul
    return _int8_matmul or None


def _disable_cuda_int8_matmul(error):
    global _int8_matmul
    _int8_matmul = False
    warnings.warn(f"the Triton int8 decode kernel failed ({type(error).__name__}: {error}); "
                  "int8 layers dequantize their weights instead from now on", RuntimeWarning, stacklevel=3)


class Int8Linear(nn.Module):
    def __init__(self, in_features: int, out_features: int, dtype=torch.bfloat16, device=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.empty(out_features, in_features, dtype=torch.int8, device=device))
        self.register_buffer("scales", torch.empty(out_features, dtype=dtype, device=device))

    def forward(self, x):
        if x.device.type == "cpu" and x.numel() <= 16 * x.shape[-1]:
            # Decoding a few tokens is bound by reading weights, and the packed int8 kernel reads 1 byte
            # per weight: measured 2.3 ms against 8.5 ms (bf16) and 16.7 ms (fp32) for CWM's 128256 x 256
            # vocabulary projection of one token, on one core. It is fast with bf16 activations only
            # (27 ms with fp32 ones), so fp32 inputs are rounded to bf16 for it. Longer inputs amortize
            # a dequantized copy instead.
            xb = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
            y = torch.ops.aten._weight_int8pack_mm(xb, self.weight, self.scales.to(torch.bfloat16))
            return y.view(*x.shape[:-1], self.out_features).to(x.dtype)
        if x.device.type == "cuda" and x.numel() <= 16 * x.shape[-1] and x.dtype in _KERNEL_DTYPES:
            # On CUDA the packed kernel is slow (H200, 6144 x 21504, one token: 1.3 ms against 0.42 ms
            # for the dequantize-then-matmul below, which reads 1 byte, writes 2 and reads 2 per weight,
            # and 0.07 ms for bf16). model/triton_int8.py reads each int8 weight once.
            matmul = _cuda_int8_matmul()
            if matmul is not None:
                try:
                    y = matmul(x.reshape(-1, x.shape[-1]), self.weight, self.scales)
                    return y.view(*x.shape[:-1], self.out_features)
                except Exception as e:  # noqa: BLE001 - a GPU or triton the kernel does not compile for
                    _disable_cuda_int8_matmul(e)
        return F.linear(x, self.weight.to(x.dtype)) * self.scales


class Int8Embedding(nn.Module):
    def __init__(self, num_embeddings: int, dim: int, dtype=torch.bfloat16, device=None):
        super().__init__()
        self.register_buffer("weight", torch.empty(num_embeddings, dim, dtype=torch.int8, device=device))
        self.register_buffer("scales", torch.empty(num_embeddings, dtype=dtype, device=device))

    def forward(self, idx):
        return F.embedding(idx, self.weight).to(self.scales.dtype) * self.scales[idx].unsqueeze(-1)


def swap_for_int8(model: nn.Module, dtype) -> nn.Module:
    """Replace every nn.Linear and nn.Embedding of `model` (best on the meta device) by int8 ones."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Linear):
            setattr(model, name, Int8Linear(child.in_features, child.out_features, dtype, child.weight.device))
        elif isinstance(child, nn.Embedding):
            setattr(model, name, Int8Embedding(child.num_embeddings, child.embedding_dim, dtype, child.weight.device))
        else:
            swap_for_int8(child, dtype)
    return model
