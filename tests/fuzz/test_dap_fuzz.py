"""Malformed messages to the real debug adapter (`neurodebug dap` over stdio): every request
gets a response, and the adapter stays up and keeps answering well-formed requests.

Bodies that are not JSON, JSON that is not a DAP message, and requests of every command with
arguments of any type. Commands that end the session by design (disconnect, terminate) are
left out, and so is a launch of an existing program (that loads the model and runs it). How many:
tests/fuzz/fuzzing.py (1,000 in CI).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import strategies as st

from tests.fuzz.fuzzing import EXAMPLES, NOT_JSON, fuzz_stdio_server, json_values
from tests.fuzz.rawlsp import RawClient

COMMANDS = ["initialize", "launch", "attach", "configurationDone", "setBreakpoints", "setExceptionBreakpoints",
            "threads", "stackTrace", "scopes", "variables", "next", "stepIn", "stepOut", "stepBack", "continue",
            "reverseContinue", "pause", "evaluate", "setVariable", "restart", "exceptionInfo", "source",
            "loadedSources", "goto", "completions", "nothing", ""]

values = json_values(["/no/such/file.py", "f(1)", "f", "x", "1 +", "cpu", "http"], text_size=16, key_size=10)
arguments = st.one_of(values, st.dictionaries(
    st.sampled_from(["program", "call", "entry", "threadId", "frameId", "variablesReference", "expression",
                     "name", "value", "source", "breakpoints", "lines", "filters", "context", "levels", "compare",
                     "isolation", "backend", "maxFrames", "granularity"]), values, max_size=5))
requests = st.fixed_dictionaries({"seq": st.integers(1, 2**31), "type": st.just("request"),
                                  "command": st.sampled_from(COMMANDS) | st.text(max_size=12),
                                  "arguments": arguments})
other = st.one_of(
    st.fixed_dictionaries({"seq": values, "type": values, "command": values}),
    st.fixed_dictionaries({"seq": st.integers(), "type": st.sampled_from(["response", "event"]),
                           "event": values, "body": values}),
    values,
)
messages = st.one_of(requests, other, NOT_JSON)


def _runs_a_program(message: dict) -> bool:
    args = message.get("arguments")
    return message.get("command") in ("disconnect", "terminate") or (
        isinstance(args, dict) and isinstance(args.get("program"), str) and os.path.exists(args["program"]))


@pytest.fixture(scope="module")
def adapter():
    c = RawClient.neurodebug("dap")
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


def send(adapter: RawClient, message) -> None:
    """Send ``message``; a request (a whole number for seq, a string for command) gets a response."""
    if isinstance(message, bytes):
        adapter.send_bytes(message)
    elif not (isinstance(message, dict) and _runs_a_program(message)):
        adapter.send(message)
        if isinstance(message, dict) and message.get("type") == "request" and isinstance(message.get("seq"), int) \
                and isinstance(message.get("command"), str):
            adapter.wait_for(lambda m: m.get("type") == "response" and m.get("request_seq") == message["seq"],
                             timeout=30, about=message)


def test_malformed_messages_and_the_adapter_stays_up(adapter):
    assert fuzz_stdio_server(adapter, messages, send, still_answers) >= EXAMPLES
    still_answers(adapter)
    assert adapter.proc.poll() is None
