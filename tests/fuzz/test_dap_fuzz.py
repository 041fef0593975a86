"""1,000 malformed messages to the real debug adapter (`neurodebug dap` over stdio): every request
gets a response, and the adapter stays up and keeps answering well-formed requests.

Bodies that are not JSON, JSON that is not a DAP message, and requests of every command with
arguments of any type. Commands that end the session by design (disconnect, terminate) are
left out, and so is a launch of an existing program (that loads the model and runs it).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.rawlsp import RawClient

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["initialize", "launch", "attach", "configurationDone", "setBreakpoints", "setExceptionBreakpoints",
            "threads", "stackTrace", "scopes", "variables", "next", "stepIn", "stepOut", "stepBack", "continue",
            "reverseContinue", "pause", "evaluate", "setVariable", "restart", "exceptionInfo", "source",
            "loadedSources", "goto", "completions", "nothing", ""]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=16)
    | st.sampled_from(["/no/such/file.py", "f(1)", "f", "x", "1 +", "cpu", "http"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
arguments = st.one_of(json_values, st.dictionaries(
    st.sampled_from(["program", "call", "entry", "threadId", "frameId", "variablesReference", "expression",
                     "name", "value", "source", "breakpoints", "lines", "filters", "context", "levels", "compare",
                     "isolation", "backend", "maxFrames", "granularity"]), json_values, max_size=5))
requests = st.fixed_dictionaries({"seq": st.integers(1, 2**31), "type": st.just("request"),
                                  "command": st.sampled_from(COMMANDS) | st.text(max_size=12),
                                  "arguments": arguments})
other = st.one_of(
    st.fixed_dictionaries({"seq": json_values, "type": json_values, "command": json_values}),
    st.fixed_dictionaries({"seq": st.integers(), "type": st.sampled_from(["response", "event"]),
                           "event": json_values, "body": json_values}),
    json_values,
)
garbage = st.binary(min_size=1, max_size=64).filter(lambda b: _not_json(b))


def _not_json(b: bytes) -> bool:
    try:
        json.loads(b)
    except ValueError:
        return True
    return False


def _runs_a_program(message: dict) -> bool:
    args = message.get("arguments")
    return message.get("command") in ("disconnect", "terminate") or (
        isinstance(args, dict) and isinstance(args.get("program"), str) and os.path.exists(args["program"]))


@pytest.fixture(scope="module")
def adapter():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    c = RawClient([sys.executable, "-P", "-m", "neurodebug", "dap"], env=env, cwd=str(ROOT))
    yield c
    c.send({"seq": 1, "type": "request", "command": "disconnect", "arguments": {}})
    try:
        c.proc.wait(timeout=10)
    except Exception:  # noqa: BLE001
        c.proc.kill()
        c.proc.wait()


def still_answers(c: RawClient) -> None:
    c.send({"seq": 999_999_999, "type": "request", "command": "threads", "arguments": {}})
    reply = c.wait_for(lambda m: m.get("type") == "response" and m.get("request_seq") == 999_999_999, timeout=30)
    assert reply["command"] == "threads"


SENT = {"n": 0}


@settings(max_examples=1000, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(message=st.one_of(requests, other, garbage))
def _fuzz(adapter, message):
    SENT["n"] += 1
    if isinstance(message, bytes):
        adapter.send_bytes(message)
    elif isinstance(message, dict) and _runs_a_program(message):
        return
    else:
        adapter.send(message)
        if isinstance(message, dict) and message.get("type") == "request" and isinstance(message.get("seq"), int) \
                and isinstance(message.get("command"), str):
            adapter.wait_for(lambda m: m.get("type") == "response" and m.get("request_seq") == message["seq"],
                             timeout=30, about=message)
    if SENT["n"] % 100 == 0:
        still_answers(adapter)


def test_a_thousand_malformed_messages_and_the_adapter_stays_up(adapter):
    _fuzz(adapter)
    assert SENT["n"] >= 1000
    still_answers(adapter)
    assert adapter.proc.poll() is None
