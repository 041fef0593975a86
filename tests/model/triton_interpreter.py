"""Where the Triton kernel tests run: on the GPU when there is one, else in Triton's interpreter.

Import this before anything imports triton: without CUDA it sets TRITON_INTERPRET=1, which
triton reads when it is imported. The interpreter mishandles bfloat16, so CPU runs use float32
and float16 at tiny shapes. A test module that imports it is skipped without torch or triton.
"""

import os

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
pytest.importorskip("triton")

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
