"""Fixtures for the debug adapter's tests: a program, the traces its "model" replays, adapters on it.

The adapter is the real `neurodebug.dap` over its real stdio, spoken to by tests/dap/client.py.
Its model is tests/replay.py's ReplayPredictor fed real traces of PROGRAM (made by the real
tracer) with planted mistakes, so what the debugger shows is known exactly.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.dap.client import DapClient
from tests.lsp.conftest import ROOT
from tests.subprocesses import neurodebug_env

PROGRAM = '''\
# neurodebug: total([3, 4], {'a': 1})
def total(xs, weights):
    s = 0
    for x in xs:
        s = add(s, x)
    k = weights['a']
    return s + k


def add(a, b):
    c = a + b
    return c


# neurodebug: ratio(4, 0)
def ratio(a, b):
    q = a / b
    return q
'''


def planted_traces() -> list:
    """total: the model believes weights['a'] is 2 (real 1), so total returns 9 (real 8);
    total([5], {'a': 1}): right (what the session follows after xs is set to [5]);
    ratio: right, including the ZeroDivisionError."""
    from neurodebug.real.tracer import trace_source
    from neurodebug.trace.frames import End

    total = trace_source(PROGRAM, "total", None)
    assert total.end.reason == "returned", total.end
    frames = [replace(f, locals={**f.locals, "k": "2"}) if "k" in f.locals else f for f in total.frames]
    frames[-1] = replace(frames[-1], arg="9")
    total = replace(total, frames=frames, end=End("returned", value="9"))
    edited = trace_source(PROGRAM, "total", "[5], {'a': 1}")
    ratio = trace_source(PROGRAM, "ratio", None)
    assert ratio.end.reason == "raised", ratio.end
    return [total, edited, ratio]


@pytest.fixture(scope="session")
def program(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dap") / "program.py"
    path.write_text(PROGRAM, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def replay_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dap-replay") / "traces.json"
    path.write_text(json.dumps([t.to_json_dict(wire=False) for t in planted_traces()]), encoding="utf-8")
    return path


def spawn_replay(replay_file: Path, delay: float = 0.0, load_delay: float = 0.0) -> DapClient:
    command = [sys.executable, "-m", "tests.dap.replay", str(replay_file)]
    command += (["--delay", str(delay)] if delay else []) + (["--load-delay", str(load_delay)] if load_delay else [])
    return DapClient.spawn(command, cwd=str(ROOT), env=neurodebug_env())


@pytest.fixture
def client(replay_file):
    """A replaying adapter over stdio, not yet initialized; at the end, every request it answered
    was answered once."""
    c = spawn_replay(replay_file)
    yield c
    c.close()
    assert_answered_once(c)


def assert_answered_once(client: DapClient) -> None:
    seqs = [m["request_seq"] for m in client.messages if m.get("type") == "response"]
    assert len(seqs) == len(set(seqs)), f"requests answered twice: {sorted(s for s in set(seqs) if seqs.count(s) > 1)}"
    sent = [m["seq"] for m in client.messages if m.get("type") in ("response", "event")]
    assert sent == list(range(1, len(sent) + 1)), "the adapter's seq must count from 1 without gaps"
    assert_conforms(client.messages)


def assert_conforms(messages: list[dict]) -> None:
    """Every response and event has the shape the specification gives it (its debugProtocol.json,
    as dap_types' models): e.g. a stackTrace response's body has stackFrames with id, name, line."""
    import dap_types
    from pydantic import TypeAdapter

    events = TypeAdapter(dap_types.DiscriminatedEvent)
    for m in messages:
        if m.get("type") == "event":
            events.validate_python(m)
        elif m.get("type") == "response":
            name = m["command"][0].upper() + m["command"][1:] + "Response"
            model = getattr(dap_types, name, None) if m["success"] else dap_types.ErrorResponse
            if model is not None:  # a command the specification does not define has no model
                model.model_validate(m)


INITIALIZE = {"clientID": "tests", "adapterID": "neurodebug", "linesStartAt1": True, "columnsStartAt1": True,
              "pathFormat": "path", "supportsVariableType": True, "supportsInvalidatedEvent": True}


def start(client: DapClient, program: Path, breakpoints=(), filters=None, entry="total", **config) -> dict:
    """Initialize, launch and configure as VS Code does; returns the first stopped event."""
    client.ok("initialize", INITIALIZE)
    launch = client.start("launch", {"type": "neurodebug", "request": "launch", "name": "test",
                                     "program": str(program), "entry": entry, **config})
    client.event("initialized")
    if breakpoints:
        client.ok("setBreakpoints", {"source": {"path": str(program)},
                                     "breakpoints": [{"line": line} for line in breakpoints]})
    if filters is not None:
        client.ok("setExceptionBreakpoints", {"filters": list(filters)})
    client.ok("configurationDone")
    response = client.response(launch)
    assert response["success"], response.get("message")
    return client.event("stopped")
