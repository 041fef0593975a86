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

#: The only reasons a test may skip where ``NEURODEBUG_STRICT_SKIPS=1`` (.ci/run sets it): the start
#: of the skip's reason -> why CI cannot run that test. Any other skip there (a tool, an extra or the
#: bundled model missing, bubblewrap that cannot start, ...) fails the run: .ci/run installs what
#: the tests need, so a skip means that an install went wrong.
ALLOWED_SKIPS = {
    "needs CUDA": "CI's machine has no GPU (the gpu tests run where one is lent)",
    "this machine has CUDA": "a check of the CPU fallback, which only a machine without a GPU has",
    "the interpreter is only chosen without CUDA": "likewise, for the Triton interpreter",
}
STRICT_SKIPS = "NEURODEBUG_STRICT_SKIPS"
_skips: list[tuple[str, str]] = []  # (test or module, reason) of every skip in this session


def skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def unexpected_skips() -> list[tuple[str, str]]:
    return [(node, reason) for node, reason in _skips if not reason.startswith(tuple(ALLOWED_SKIPS))]


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, skip_reason(report)))


def pytest_collectreport(report):
    if report.skipped:  # a module that skipped as a whole (a module-level importorskip)
        _skips.append((report.nodeid, skip_reason(report)))


def pytest_terminal_summary(terminalreporter):
    if os.environ.get(STRICT_SKIPS) == "1" and unexpected_skips():
        terminalreporter.section(f"skips that are not allowed here ({STRICT_SKIPS}=1; tests/conftest.py: ALLOWED_SKIPS)")
        for node, reason in unexpected_skips():
            terminalreporter.line(f"{node}: {reason}")


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
    that reached one that way would pass here and fail on an installed copy, so the run fails. With
    NEURODEBUG_STRICT_SKIPS=1 a skip whose reason is not in ALLOWED_SKIPS fails it too."""
    import sys

    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("model", "lsp", "tui"))
    if leaked:
        print(f"\nThese modules were imported by their folder names, not as neurodebug.*: {', '.join(leaked)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # CI fails on a skip that is not on the allowed list (pytest_terminal_summary lists them)
    if os.environ.get(STRICT_SKIPS) == "1" and unexpected_skips():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
