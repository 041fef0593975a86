"""1,000 malformed messages to the real language server (`neurodebug lsp` over stdio): every
request gets an answer, and the server stays up and keeps answering well-formed requests.

Bodies that are not JSON, JSON that is not JSON-RPC, known methods with parameters of any type,
unknown methods, and the server's own commands with arguments of any type. Methods that end the
server by design (shutdown, exit) are left out.
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
DOC = "file:///neurodebug-fuzz/prog.py"
TEXT = "# neurodebug: count('berry', 'r')\ndef count(s, ch):\n    n = 0\n    for c in s:\n        if c == ch:\n" \
       "            n += 1\n    return n\n"
METHODS = ["initialize", "initialized", "textDocument/didOpen", "textDocument/didChange", "textDocument/didSave",
           "textDocument/didClose", "textDocument/codeLens", "textDocument/inlayHint", "textDocument/hover",
           "workspace/executeCommand", "workspace/didChangeConfiguration", "$/cancelRequest", "$/setTrace",
           "neurodebug/nothing", "textDocument/completion", "window/workDoneProgress/cancel"]
#: Notification methods: pygls handles them as notifications even when a message gives them an id,
#: so no answer is due (a client never sends them with one).
NOTIFICATIONS = {"initialized", "textDocument/didOpen", "textDocument/didChange", "textDocument/didSave",
                 "textDocument/didClose", "workspace/didChangeConfiguration", "$/cancelRequest", "$/setTrace",
                 "window/workDoneProgress/cancel"}
COMMANDS = ["neurodebug.predict", "neurodebug.compare", "neurodebug.step", "neurodebug.setLocal", "neurodebug.nope"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from([DOC, "count", "step", "back", "run_to:3", "file:///no/such.py", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
positions = st.fixed_dictionaries({"line": json_values, "character": json_values})
documentish = st.fixed_dictionaries({"textDocument": st.fixed_dictionaries({"uri": json_values}) | json_values,
                                     "position": positions | json_values, "range": json_values})
params = st.one_of(json_values, documentish,
                   st.fixed_dictionaries({"command": st.sampled_from(COMMANDS), "arguments": json_values}))
ids = st.integers(1, 2**31) | st.text(min_size=1, max_size=10)
requests = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": ids,
                                  "method": st.sampled_from(METHODS) | st.text(max_size=20), "params": params})
other_json = st.one_of(
    st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "method": st.sampled_from(METHODS), "params": params}),
    st.fixed_dictionaries({"jsonrpc": json_values, "id": json_values, "method": json_values}),
    json_values,
)
garbage = st.binary(min_size=1, max_size=64).filter(lambda b: _not_json(b))


def _not_json(b: bytes) -> bool:
    try:
        json.loads(b)
    except ValueError:
        return True
    return False


@pytest.fixture(scope="module")
def server():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    c = RawClient([sys.executable, "-m", "neurodebug", "lsp"], env=env, cwd=str(ROOT))
    assert "capabilities" in c.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})["result"]
    c.notify("initialized", {})
    c.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1, "text": TEXT}})
    yield c
    c.close()


def still_answers(c: RawClient) -> None:
    """A well-formed request on the document (opened again: a fuzzed didClose may have closed it)."""
    c.notify("textDocument/didOpen", {"textDocument": {"uri": DOC, "languageId": "python", "version": 1, "text": TEXT}})
    lenses = c.request("textDocument/codeLens", {"textDocument": {"uri": DOC}})["result"]
    assert [lens["command"]["arguments"] for lens in lenses][0] == [DOC, "count", "count('berry', 'r')"]


SENT = {"n": 0}


# no shrinking: the server keeps state, so a smaller example replayed later proves nothing
@settings(max_examples=1000, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(message=st.one_of(requests, other_json, garbage))
def _fuzz(server, message):
    SENT["n"] += 1
    if isinstance(message, bytes):
        server.send_bytes(message)
    else:
        if isinstance(message, dict) and message.get("method") in ("shutdown", "exit"):
            return
        server.send(message)
        if isinstance(message, dict) and set(message) == {"jsonrpc", "id", "method", "params"} \
                and message["method"] not in NOTIFICATIONS:
            # a request: the server answers it (a result or an error), whatever its parameters
            server.wait_for(lambda m: m.get("id") == message["id"] and "method" not in m, timeout=30,
                            about=message)
    if SENT["n"] % 100 == 0:
        still_answers(server)


def test_a_thousand_malformed_messages_and_the_server_stays_up(server):
    _fuzz(server)
    assert SENT["n"] >= 1000
    still_answers(server)
    assert server.proc.poll() is None
