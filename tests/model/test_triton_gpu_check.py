"""benchmarks/gpu_check.py runs end to end: its dry run (tiny shapes, Triton interpreter without
CUDA) goes through the same code as the one-shot GPU run, section processes and table included."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def run(*args, timeout=300, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(extra_env or {})
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def test_dry_run_correctness_section_passes(tmp_path):
    done = run("--dry-run", "--only", "correctness", "--out", str(tmp_path / "table.txt"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.split("=== gpu_check summary ===")[1]
    assert summary.count("PASS") == 6
    assert "0 with errors/failures" in summary
    written = (tmp_path / "table.txt").read_text()
    assert written.startswith("=== gpu_check summary ===") and written.count('"PASS"') == 6


def test_without_cuda_the_real_run_refuses_with_a_reason():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = run("--only", "device")
    assert done.returncode == 2
    assert "no CUDA device" in done.stdout and "--dry-run" in done.stdout


def test_a_hanging_section_is_killed_and_the_check_goes_on():
    env = {"GPU_CHECK_HANG": "device"}
    done = run("--dry-run", "--only", "device", "correctness", "--budget", "40", extra_env=env)
    summary = done.stdout.split("=== gpu_check summary ===")[1]
    assert "TIMEOUT: killed after" in summary
    assert "hang" in summary  # what the section printed before it hung is kept
    assert summary.count("PASS") == 6  # the next section still ran
    assert done.returncode == 1


@pytest.mark.slow
def test_full_dry_run_has_no_failed_row():
    done = run("--dry-run", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout.split("=== gpu_check summary ===")[1]
    for section in ("device", "correctness", "prefill", "decode", "model-bf16", "model-int8"):
        assert f"\n{section} " in summary
    assert "decode at 40 context" in summary and "triton vs reference logits" in summary


@pytest.mark.slow
def test_kernels_compile_for_hopper_without_a_gpu():
    """Every kernel variant of the GPU run compiles for sm_90 (Triton's bundled LLVM and ptxas),
    with 16-byte loads pipelined through cp.async."""
    done = run("--compile-only", "90", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
    assert lines and all(line.startswith("ok") for line in lines)
    assert all("cp.async 0," not in line for line in lines if "_merge_" not in line)
