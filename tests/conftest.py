"""Shared fixtures.

`cwm_checkpoint`: a small random CWM checkpoint made once per test session with transformers'
CwmForCausalLM.save_pretrained (4 layers mixing sliding-window and global attention, window 16,
grouped-query attention 4:2, float32) with Llama 3's tokenizer.model beside it, so CWM's special
tokens are real. Tests that need another shape call tests.checkpoints.make_checkpoint themselves.
"""

from __future__ import annotations

import os

import pytest

# Tiny models on a shared 2-core machine: a second intra-op thread only adds waiting (measured:
# 64 greedy tokens took 6-7 s with 2 threads under load, 0.4-0.7 s with 1). Set before torch loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.checkpoints import make_checkpoint


@pytest.fixture(scope="session", autouse=True)
def _isolation_note_said():
    """Where bubblewrap cannot start, real runs in this process fall back to the limits and say so
    once on stderr; counted as said, so that no test's captured stderr depends on the machine.
    tests/hostile/ checks the note itself, in subprocesses."""
    from neurodebug.real import isolation

    isolation._said_fallback = True


@pytest.fixture(scope="session")
def cwm_checkpoint(tmp_path_factory):
    """Path of a tiny random CWM checkpoint directory with a real tokenizer (do not modify it)."""
    return make_checkpoint(tmp_path_factory.mktemp("cwm") / "tiny-cwm")


@pytest.fixture(scope="session")
def cwm_model(cwm_checkpoint):
    """`model.load_model` on the session checkpoint (CPU, float32, reference attention)."""
    from neurodebug.model import load_model

    return load_model(cwm_checkpoint, device="cpu", attention="reference")


def pytest_sessionfinish(session, exitstatus):
    """The runtime and the front ends install as neurodebug.model, .lsp and .tui. The tests run from
    the repository root, where the top-level folders model/, lsp/ and tui/ are importable too: a test
    that reached one that way would pass here and fail on an installed copy, so the run fails."""
    import sys

    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("model", "lsp", "tui"))
    if leaked:
        print(f"\nThese modules were imported by their folder names, not as neurodebug.*: {', '.join(leaked)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
