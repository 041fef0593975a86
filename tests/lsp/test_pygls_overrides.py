"""The pygls behaviour each override in neurodebug.lsp.pygls_overrides relies on, checked directly.

Each ``test_upstream_*`` test drives the installed pygls, without our overrides, and fails when
pygls changes what the override assumes: a private method renamed or re-signed, the reader no
longer going through it, or the gap the override fills closed upstream (then the override can
go). The ``test_override_*`` tests run the same messages through our Protocol. No server process,
no model: messages go through pygls's own reader loop (``pygls.io_.run``) or straight to
``handle_message``, and responses are read back from the writer.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import json
import logging
import threading

import pytest
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.io_ import run as read_messages
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol

from neurodebug.lsp.pygls_overrides import Protocol

BAD_HOVER = {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover", "params": {"textDocument": 42}}
INVALID_PARAMS, REQUEST_CANCELLED = -32602, -32800


def framed(*messages: dict) -> bytes:
    out = b""
    for m in messages:
        body = json.dumps(m).encode()
        out += b"Content-Length: %d\r\n\r\n" % len(body) + body
    return out


def written(out: io.BytesIO) -> list[dict]:
    """The JSON messages the server wrote, in order."""
    data, messages = out.getvalue(), []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        n = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length:"))
        messages.append(json.loads(rest[:n]))
        data = rest[n:]
    return messages


def server_with(protocol_cls=LanguageServerProtocol) -> tuple[LanguageServer, io.BytesIO]:
    server = LanguageServer("overrides-test", "0", protocol_cls=protocol_cls)
    out = io.BytesIO()
    server.protocol.set_writer(StdoutWriter(out))
    return server, out


def deliver(server: LanguageServer, message: dict) -> None:
    """What pygls's readers do with one message body."""
    p = server.protocol
    p.handle_message(json.loads(json.dumps(message), object_hook=p.structure_message))


def test_the_protocol_is_the_one_class_of_overrides():
    from neurodebug.lsp import server

    assert server.Protocol is Protocol and issubclass(Protocol, LanguageServerProtocol)
    overridden = {name for name, value in vars(Protocol).items() if callable(value) and not name.startswith("__")}
    assert overridden == {"structure_message", "handle_message", "_handle_cancel_notification", "_execute_handler",
                          "_forget"}
    for name in overridden - {"_forget"}:  # each overrides a method pygls has, with the same parameters
        ours, theirs = inspect.signature(getattr(Protocol, name)), inspect.signature(getattr(JsonRPCProtocol, name))
        assert list(ours.parameters) == list(theirs.parameters), name


# -- malformed params: structure_message / handle_message --------------------------------------


def test_upstream_reads_each_message_through_structure_message_then_handle_message():
    """Relied on: the reader parses a body with json.loads(object_hook=protocol.structure_message)
    and hands what the hook returned for the whole message to protocol.handle_message."""
    seen = {}

    class Recording(LanguageServerProtocol):
        def structure_message(self, data):
            result = super().structure_message(data)
            if "jsonrpc" in data:
                seen["structured"] = result
            return result

        def handle_message(self, message):
            seen["handled"] = message

    server, _ = server_with(Recording)
    message = {"jsonrpc": "2.0", "method": "custom/ping", "params": {"n": 1}}
    read_messages(threading.Event(), io.BytesIO(framed(message)), server.protocol)
    assert "structured" in seen and seen["handled"] is seen["structured"]


def test_upstream_leaves_a_request_with_bad_params_unanswered(caplog):
    """Relied on: for a request whose params do not fit, pygls's structure_message raises a
    JsonRpcException chained to cattrs' error and logs 'Unable to deserialize message' (which
    QuietExpectedErrors rewrites); the reader logs it and reads on, and nothing is sent back.
    When pygls answers such a request itself, this fails: the override can then go."""
    server, out = server_with()
    with pytest.raises(JsonRpcException) as raised:
        server.protocol.structure_message(dict(BAD_HOVER))
    assert raised.value.__cause__ is not None
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        read_messages(threading.Event(), io.BytesIO(framed(BAD_HOVER)), server.protocol)
    assert written(out) == []
    assert any(str(r.msg).startswith("Unable to deserialize message") for r in caplog.records)


def test_override_answers_a_request_with_bad_params_through_pygls_reader():
    server, out = server_with(Protocol)
    read_messages(threading.Event(), io.BytesIO(framed(BAD_HOVER)), server.protocol)
    (response,) = written(out)
    assert response["id"] == 7 and response["error"]["code"] == INVALID_PARAMS
    assert response["error"]["message"].startswith("Invalid params for textDocument/hover: ")


# -- $/cancelRequest: _handle_cancel_notification -------------------------------------------------


def _cancel_a_running_command(protocol_cls, runner=None):
    """Start workspace/executeCommand of a command that waits, cancel the request, let the command
    finish: (what was written, whether the command's own task was cancelled)."""
    server, out = server_with(protocol_cls)
    if runner is not None:
        server.runner = runner
    state = {}

    @server.command("test.wait")
    async def wait(ls):
        state["task"] = asyncio.current_task()
        await state["release"].wait()
        return "done"

    async def main():
        state["release"] = asyncio.Event()
        deliver(server, {"jsonrpc": "2.0", "id": 1, "method": "workspace/executeCommand",
                         "params": {"command": "test.wait", "arguments": []}})
        while "task" not in state:
            await asyncio.sleep(0.01)
        deliver(server, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 1}})
        await asyncio.sleep(0.05)
        state["release"].set()
        await asyncio.sleep(0.05)
        return state["task"].cancelled()

    cancelled = asyncio.run(main())
    return written(out), cancelled


def test_upstream_cancel_request_calls_handle_cancel_notification_with_the_request_id():
    calls = []

    class Recording(LanguageServerProtocol):
        def _handle_cancel_notification(self, msg_id):
            calls.append(msg_id)
            super()._handle_cancel_notification(msg_id)

    server, _ = server_with(Recording)
    deliver(server, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 5}})
    deliver(server, {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "abc"}})
    assert calls == [5, "abc"]


def test_upstream_cancel_does_not_reach_a_command_inside_execute_command():
    """Relied on: pygls answers the cancelled executeCommand request (RequestCancelled) but the
    command, an inner handler under an id of its own, runs on to its end. When pygls's cancel
    reaches the command itself, this fails: the override may then be unnecessary."""
    messages, cancelled = _cancel_a_running_command(LanguageServerProtocol)
    assert [m["id"] for m in messages] == [1] and messages[0]["error"]["code"] == REQUEST_CANCELLED
    assert not cancelled


def test_override_hands_the_cancelled_request_id_to_the_runner():
    class Runner:
        cancelled: list = []

        def cancel_request(self, msg_id):
            self.cancelled.append(msg_id)

    runner = Runner()
    messages, _ = _cancel_a_running_command(Protocol, runner)
    assert runner.cancelled == [1]
    assert [m["id"] for m in messages] == [1] and messages[0]["error"]["code"] == REQUEST_CANCELLED


# -- bookkeeping: _execute_handler ---------------------------------------------------------------


def _run_a_notification(protocol_cls) -> dict:
    """An async notification handler, run to its end: what is left in _request_futures."""
    server, _ = server_with(protocol_cls)
    done = []

    @server.feature("custom/ping")
    async def ping(ls, params):
        done.append(params)

    async def main():
        deliver(server, {"jsonrpc": "2.0", "method": "custom/ping", "params": {"n": 1}})
        while not done:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.01)  # the done callbacks run

    asyncio.run(main())
    return dict(server.protocol._request_futures)


def test_upstream_keeps_the_bookkeeping_of_a_finished_notification_handler():
    """Relied on: _execute_handler(msg_id, handler, callback, args, kwargs) stores a coroutine
    handler's future in _request_futures[msg_id] (here under a fresh uuid), and nothing removes
    it when the handler ends. When pygls drops it itself, this fails: the override can go."""
    params = list(inspect.signature(JsonRPCProtocol._execute_handler).parameters)
    assert params == ["self", "msg_id", "handler", "callback", "args", "kwargs"]
    left = _run_a_notification(LanguageServerProtocol)
    assert len(left) == 1 and all(f.done() for f in left.values())


def test_override_drops_the_bookkeeping_when_the_handler_ends():
    assert _run_a_notification(Protocol) == {}
