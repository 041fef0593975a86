"""Triton weight-only int8 decode matmul (model/triton_int8.py) against float32 math.

Without CUDA the kernel runs in Triton's interpreter (tests/model/triton_interpreter.py), which
mishandles bfloat16: CPU runs use float32 and float16 at tiny shapes, with a small
tile (32 x 64) so that partial blocks along N and K occur. bfloat16, the autotuned tiles and CWM-sized
shapes run only on a GPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model.triton_interpreter import CUDA, DEVICE, torch  # first: it may set TRITON_INTERPRET

from neurodebug.model import quantize
from neurodebug.model import triton_int8 as ti

ROOT = Path(__file__).resolve().parents[2]
# Relative to the largest output: float32 accumulates the same products in another order; 16-bit
# outputs are rounded once.
TOL = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}


def make(M, N, K, dtype, seed=0, scale_dtype=torch.float32):
    """x [M, K], int8 weight [N, K] spanning -127..127 (row 0 all -127), per-row scales [N]."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(-127, 128, (N, K), generator=g, dtype=torch.int8)
    w[0] = -127
    w[:, 0] = -127
    s = (torch.rand(N, generator=g) * 0.02 + 1e-3).to(scale_dtype)
    x = torch.randn(M, K, generator=g).to(dtype)
    return x.to(DEVICE), w.to(DEVICE), s.to(DEVICE)


def reference(x, w, s):
    return x.float() @ (w.float() * s.float()[:, None]).T


def assert_close(y, ref, dtype):
    assert y.dtype == dtype and y.shape == ref.shape
    assert torch.isfinite(y).all()
    tol = TOL[dtype] * ref.abs().max().item()
    torch.testing.assert_close(y.float(), ref, atol=tol, rtol=TOL[dtype])


DTYPES = [torch.float32, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("M", [1, 3, 16])
@pytest.mark.parametrize("N", [8, 40, 130])
@pytest.mark.parametrize("K", [64, 96, 256])
def test_matches_float32_math(K, N, M, dtype):
    x, w, s = make(M, N, K, dtype)
    assert_close(ti.int8_matmul(x, w, s), reference(x, w, s), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("M", [1, 2, 4, 5, 16])  # every row bucket: 1, 2, 4 reduce; 16 through tl.dot
@pytest.mark.parametrize("N,K,split", [(40, 256, 3), (130, 96, 2), (8, 320, 16)])
def test_split_k_matches(N, K, split, M, dtype):
    # (8, 320, 16): 5 blocks of 64 along K for 16 splits, so most programs get none and store zeros.
    x, w, s = make(M, N, K, dtype, seed=1)
    assert_close(ti.int8_matmul(x, w, s, split_k=split), reference(x, w, s), dtype)


@pytest.mark.parametrize("M", [1, 16])
def test_extreme_weights_are_exact(M):
    # -127 and 127 everywhere, x of ones and small integers: every product and sum is exact in float32.
    N, K = 40, 96
    w = torch.full((N, K), -127, dtype=torch.int8)
    w[1::2, ::3] = 127
    x = (torch.arange(M * K).reshape(M, K) % 5 - 2).float()
    s = torch.ones(N)
    y = ti.int8_matmul(x.to(DEVICE), w.to(DEVICE), s.to(DEVICE))
    torch.testing.assert_close(y.cpu(), x @ w.float().T, atol=0, rtol=0)


def test_other_tiles_strided_rows_and_half_scales():
    # x rows at a stride longer than K (a slice of a wider tensor), float16 scales (Int8Linear keeps
    # them in the model's dtype), a 16 x 32 tile.
    x_wide, w, s = make(3, 130, 96 + 32, torch.float32, seed=2, scale_dtype=torch.float16)
    x, w = x_wide[:, :96], w[:, :96].contiguous()
    assert x.stride(0) == 128
    y = ti.int8_matmul(x, w, s, config=ti._config(16, 32, 4, 1))
    assert_close(y, reference(x, w, s), torch.float32)


@pytest.mark.parametrize("M", [1, 16])
def test_every_autotune_config_computes_the_same(M):
    # What the autotuner would launch on a GPU (it cannot run in the interpreter): each tile, with
    # blocks larger than the problem along both N and K.
    x, w, s = make(M, 40, 96, torch.float16, seed=3)
    ref = reference(x, w, s)
    for config in ti._CONFIGS:
        assert_close(ti.int8_matmul(x, w, s, split_k=2, config=config), ref, torch.float16)


def test_empty_and_bad_inputs():
    x, w, s = make(1, 8, 64, torch.float32)
    assert ti.int8_matmul(x[:0], w, s).shape == (0, 8)
    with pytest.raises(ValueError, match="at most 16"):
        ti.int8_matmul(torch.zeros(17, 64, device=DEVICE), w, s)
    with pytest.raises(ValueError, match="int8"):
        ti.int8_matmul(x, w.float(), s)
    with pytest.raises(ValueError, match="do not match"):
        ti.int8_matmul(x[:, :32], w, s)
    with pytest.raises(ValueError, match="float16"):
        ti.int8_matmul(x.double(), w, s)


def test_int8_linear_import_falls_back_when_triton_is_unavailable(monkeypatch):
    monkeypatch.setattr(quantize, "_int8_matmul", None)
    monkeypatch.setitem(sys.modules, "neurodebug.model.triton_int8", None)  # import raises ImportError
    assert quantize._cuda_int8_matmul() is None
    assert quantize._int8_matmul is False


def test_cpu_model_import_and_forward_never_import_triton():
    code = ("import sys, torch\n"
            "from neurodebug.model.quantize import Int8Linear, quantize_rows\n"
            "m = Int8Linear(64, 8, torch.float32)\n"
            "q, s = quantize_rows(torch.randn(8, 64))\n"
            "m.weight.copy_(q); m.scales.copy_(s)\n"
            "m(torch.randn(1, 64)); m(torch.randn(40, 64))\n"
            "print('neurodebug.model.triton_int8' in sys.modules, 'triton' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == "False"


# ----------------------------------------------------------------------------- compile for sm_90

COMPILE_SM90 = r"""
import os
os.environ["TRITON_INTERPRET"] = "0"
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from neurodebug.model import triton_int8 as ti

fn, target = ti._int8_mm_kernel, GPUTarget("cuda", 90, 32)
ptrs = dict(X="*bf16", W="*i8", S="*bf16", Y="*bf16", P="*fp32")
configs = [ti._CONFIGS[0], ti._CONFIGS[3], ti._CONFIGS[-1]]
for c in configs:
    for bm, split in ((1, 1), (4, 4), (16, 1), (16, 4)):
        consts = dict(BLOCK_M=bm, SPLIT_K=split, USE_DOT=bm > ti.REDUCE_MAX_ROWS, EVEN_K=True, IEEE=False,
                      **c.kwargs)
        sig = {a: "constexpr" if a in consts else ptrs.get(a, "i32") for a in fn.arg_names}
        attrs = {(i,): [["tt.divisibility", 16]] for i, a in enumerate(fn.arg_names)
                 if a in ptrs or a in ("N", "K") or a.startswith("stride")}
        k = triton.compile(ASTSource(fn, sig, constexprs=consts, attrs=attrs), target=target,
                           options=dict(num_warps=c.num_warps, num_stages=c.num_stages))
        assert "cubin" in k.asm
sig = dict(P="*fp32", Y="*bf16", MN="i32", SPLIT_K="constexpr", BLOCK="constexpr")
triton.compile(ASTSource(ti._sum_splits_kernel, sig, constexprs=dict(SPLIT_K=4, BLOCK=1024)), target=target)
print("compiled")
"""


@pytest.mark.slow
def test_bfloat16_variants_compile_for_sm90_without_a_gpu():
    """What the interpreter cannot catch: the compiled path for bfloat16 on an H100/H200, with
    Triton's own compiler and ptxas (no GPU needed)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE_SM90], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)
    assert done.returncode == 0 and "compiled" in done.stdout, done.stderr[-3000:]


# ----------------------------------------------------------------------------- GPU only

gpu = pytest.mark.skipif(not CUDA, reason="needs CUDA")


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("M", [1, 2, 5, 16])
@pytest.mark.parametrize("N,K", [(130, 96), (40, 256)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=lambda d: str(d).split(".")[-1])
def test_autotuned_small_shapes_on_gpu(dtype, N, K, M):
    x, w, s = make(M, N, K, dtype, scale_dtype=torch.bfloat16)
    assert_close(ti.int8_matmul(x, w, s), reference(x, w, s), dtype)


@gpu
@pytest.mark.gpu
@pytest.mark.parametrize("M", [1, 4, 16])
@pytest.mark.parametrize("N,K", [(6144, 21504), (1024, 6144), (8192, 6144)])
def test_bf16_cwm_shapes_on_gpu(N, K, M):
    x, w, s = make(M, N, K, torch.bfloat16, scale_dtype=torch.bfloat16)
    ref = reference(x, w, s)
    assert_close(ti.int8_matmul(x, w, s), ref, torch.bfloat16)
    assert_close(ti.int8_matmul(x, w, s, split_k=1), ref, torch.bfloat16)
    if ti.default_split_k(N, K, x.device) == 1:
        assert_close(ti.int8_matmul(x, w, s, split_k=4), ref, torch.bfloat16)


@gpu
@pytest.mark.gpu
def test_int8_linear_uses_the_kernel_for_decode_on_gpu():
    m = quantize.Int8Linear(6144, 1024, torch.bfloat16, device="cuda")
    q, s = quantize.quantize_rows(torch.randn(1024, 6144, device="cuda"))
    m.weight.copy_(q)
    m.scales.copy_(s.to(torch.bfloat16))
    for shape in ((1, 1, 6144), (2, 8, 6144), (1, 40, 6144)):  # decode, 16 rows, prefill (dequantizes)
        x = torch.randn(*shape, device="cuda", dtype=torch.bfloat16)
        ref = x.float() @ (m.weight.float() * m.scales.float()[:, None]).T
        y = m(x)
        assert y.shape == (*shape[:-1], 1024) and y.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), ref, atol=2e-2 * ref.abs().max().item(), rtol=2e-2)
    assert quantize._int8_matmul is ti.int8_matmul  # imported, not disabled by a failure


def test_bench_int8_gemv_reports_each_shape_and_never_raises():
    # benchmarks/int8_gemv.py (gpu_check's int8 gemv rows). Without CUDA: the dry run's tiny shapes
    # in the interpreter, as gpu_check --dry-run would call it.
    import importlib.util

    spec = importlib.util.spec_from_file_location("int8_gemv", ROOT / "benchmarks" / "int8_gemv.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    shapes = [("kv", 1024, 6144), ("bad", -1, 6144)] if CUDA else [bench.DRY_SHAPES[1], ("bad", -1, 64)]
    rows = bench.bench_int8_gemv(DEVICE, shapes=shapes, rep_ms=10)
    assert [r["shape"].split()[0] for r in rows] == [shapes[0][0].split()[0], "bad"]
    ok, bad = rows
    assert {"shape", "ours_us", "dequant_us", "bf16_us", "ours_gbps"} <= set(ok)
    assert not ok["error"], ok["error"]
    assert ok["ours_us"] > 0 and ok["dequant_us"] > 0 and ok["bf16_us"] > 0 and ok["ours_gbps"] > 0
    assert ok["max_rel_err"] < 1e-2
    if ok["split_k"] > 1:
        assert ok["nosplit_us"] > 0
    assert bad["error"] and bad["ours_us"] != bad["ours_us"]  # NaN
