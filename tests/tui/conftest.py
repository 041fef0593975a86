"""Fixtures for the TUI tests: programs on disk, their real traces, and real predictors.

Well-formed, deterministic predictions come from ``ReplayPredictor`` (tests/tui/replay.py): a
real Predictor whose next token is read off the codec's encoding of given traces. Garbage
predictions come from the tiny random checkpoint (``cwm_checkpoint`` in tests/conftest.py).
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest
from neurodebug.tui.app import NeuroDebugApp, SessionSpec

from neurodebug.real.tracer import trace_file
from neurodebug.trace.frames import Trace
from tests.replay import ReplayPredictor
from neurodebug.options import SessionOptions

SIZE = (120, 36)

PROGRAMS = {
    # helper call, a loop and a long string: stepping into/over/out of add(), changed values
    "calls.py": '''
        def add(a, b):
            y = a
            y = y + b
            return y


        def f(n):  # << START_OF_TRACE
            t = add(n, 2)
            s = "abcdefghijklmnopqrstuvwxyz" * 3
            for i in range(2):
                t = t + i
            return t * 2
    ''',
    # raises: a predicted exception
    "raises.py": '''
        def check(xs):  # << START_OF_TRACE
            total = 0
            for x in xs:
                if x < 0:
                    raise ValueError(f"negative: {x}")
                total += x
            return total
    ''',
    # never stops: the real run hits its frame limit
    "spins.py": '''
        def spin(n):  # << START_OF_TRACE
            k = 0
            while n > 0:
                k = k + 1
            return k
    ''',
}


def write_program(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(PROGRAMS[name]).lstrip())
    return path


@pytest.fixture(scope="session")
def tokenizer():
    from neurodebug.model.tokenizer import llama3_tokenizer

    return llama3_tokenizer()


@pytest.fixture(scope="session")
def programs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("programs")
    for name in PROGRAMS:
        write_program(d, name)
    return d


@pytest.fixture(scope="session")
def calls_trace(programs) -> Trace:
    return trace_file(programs / "calls.py", None, "3")


@pytest.fixture(scope="session")
def calls_trace_5(programs) -> Trace:
    return trace_file(programs / "calls.py", None, "5")


def with_mistake(trace: Trace, step: int, name: str, value: str) -> Trace:
    """The same trace with one local written wrong at ``step`` and after it in the same scope visit."""
    wrong = copy.deepcopy(trace)
    f0 = wrong.frames[step]
    for f in wrong.frames[step:]:
        if f.depth != f0.depth or f.event not in ("call", "line"):
            break
        if name in f.locals:
            f.locals[name] = value
    return wrong


def make_app(path, predictor, call=None, **kw) -> NeuroDebugApp:
    return NeuroDebugApp(SessionSpec(str(path), call=call, predictor=predictor, options=SessionOptions(**kw)))


async def settle(app, pilot, timeout: float = 60.0) -> None:
    """Wait until the app has loaded (or failed to) and no worker runs, and the result is on screen."""
    import time

    from neurodebug.tui.widgets import Notice

    deadline = time.monotonic() + timeout
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        loaded = app.main.session is not None or bool(app.query_one(Notice).message)
        if (loaded and not app.main.busy) or time.monotonic() > deadline:
            return
        await pilot.pause(0.05)


async def press(app, pilot, *keys: str) -> None:
    for k in keys:
        await pilot.press(k)
        await settle(app, pilot)


@pytest.fixture
def replay(tokenizer):
    def make(*traces: Trace, **kw) -> ReplayPredictor:
        return ReplayPredictor(tokenizer, traces, **kw)

    return make
