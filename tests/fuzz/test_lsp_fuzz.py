"""Malformed messages to the real language server (`neurodebug lsp` over stdio): every
request gets an answer, and the server stays up and keeps answering well-formed requests.

Bodies that are not JSON, JSON that is not JSON-RPC, known methods with parameters of any type,
unknown methods, and the server's own commands with arguments of any type. Methods that end the
server by design (shutdown, exit) are left out. How many: tests/fuzz/fuzzing.py (1,000 in CI).
"""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

from tests.fuzz.fuzzing import EXAMPLES, NOT_JSON, fuzz_stdio_server, json_values
from tests.fuzz.rawlsp import RawClient

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

values = json_values([DOC, "count", "step", "back", "run_to:3", "file:///no/such.py", ""], text_size=20, key_size=12)
positions = st.fixed_dictionaries({"line": values, "character": values})
documentish = st.fixed_dictionaries({"textDocument": st.fixed_dictionaries({"uri": values}) | values,
                                     "position": positions | values, "range": values})
params = st.one_of(values, documentish,
                   st.fixed_dictionaries({"command": st.sampled_from(COMMANDS), "arguments": values}))
ids = st.integers(1, 2**31) | st.text(min_size=1, max_size=10)
requests = st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "id": ids,
                                  "method": st.sampled_from(METHODS) | st.text(max_size=20), "params": params})
other_json = st.one_of(
    st.fixed_dictionaries({"jsonrpc": st.just("2.0"), "method": st.sampled_from(METHODS), "params": params}),
    st.fixed_dictionaries({"jsonrpc": values, "id": values, "method": values}),
    values,
)
messages = st.one_of(requests, other_json, NOT_JSON)


@pytest.fixture(scope="module")
def server():
    c = RawClient.neurodebug("lsp")
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


def send(server: RawClient, message) -> None:
    """Send ``message``; a request (a message with an id, of a method that is not a notification)
    gets an answer, a result or an error, whatever its parameters."""
    if isinstance(message, bytes):
        server.send_bytes(message)
    elif not (isinstance(message, dict) and message.get("method") in ("shutdown", "exit")):
        server.send(message)
        if isinstance(message, dict) and set(message) == {"jsonrpc", "id", "method", "params"} \
                and message["method"] not in NOTIFICATIONS:
            server.wait_for(lambda m: m.get("id") == message["id"] and "method" not in m, timeout=30, about=message)


def test_malformed_messages_and_the_server_stays_up(server):
    assert fuzz_stdio_server(server, messages, send, still_answers) >= EXAMPLES
    still_answers(server)
    assert server.proc.poll() is None
