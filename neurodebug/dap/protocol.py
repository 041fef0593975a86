"""DAP's wire: Content-Length framed JSON messages, read and written over byte streams.

The protocol's types come from ``dap_types`` (pydantic models generated from the specification's
debugProtocol.json); this module adds the framing, a thread-safe writer that numbers what it
sends, and the reading of one request into its typed model. Every malformed input becomes a
:class:`BadMessage` with one sentence, so the adapter can answer it and read on.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO

import dap_types

from neurodebug.errors import validation_sentence
from pydantic import BaseModel, TypeAdapter, ValidationError

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
#: A body larger than this is not read into memory (no real DAP message comes close).
MAX_BODY_BYTES = 64 * 1024 * 1024


class BadMessage(Exception):
    """A message that cannot be carried out; ``seq``/``command`` say what to answer, when known."""

    def __init__(self, sentence: str, seq: int | None = None, command: str | None = None):
        super().__init__(sentence)
        self.seq, self.command = seq, command


def read_message(stream: BinaryIO) -> dict | None:
    """The next message's JSON object; None at the end of the stream; BadMessage for a malformed one.

    A header block without Content-Length is skipped (what follows it is read as the next header,
    and junk before a ``Content-Length:`` is ignored), so one bad message never stalls the reader.
    """
    length = None
    saw_header = False
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            if length is not None:
                break
            if saw_header:
                raise BadMessage("A message header had no Content-Length, so its body was skipped.")
            continue
        saw_header = True
        match = _LENGTH.search(line)
        if match:
            length = int(match.group(1))
    if length > MAX_BODY_BYTES:
        raise BadMessage(f"A message of {length} bytes is over the limit of {MAX_BODY_BYTES}.")
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadMessage("A message's body was not JSON.") from None
    if not isinstance(message, dict):
        raise BadMessage("A message's body was JSON but not an object.")
    return message


@lru_cache(maxsize=1)
def _requests() -> TypeAdapter:
    return TypeAdapter(dap_types.DiscriminatedRequest)


#: The adapter's own requests, which the protocol lets an adapter add (VS Code sends them with
#: ``DebugSession.customRequest``): "neurodebug/takeReal" continues from the real run.
CUSTOM_COMMANDS = frozenset({"neurodebug/takeReal"})


@dataclass(frozen=True)
class CustomRequest:
    """A request of CUSTOM_COMMANDS (no arguments), shaped as dap_types' requests are."""

    seq: int
    command: str
    arguments: dict | None = None


def parse_request(message: dict) -> dap_types.Request:
    """The typed request (``dap_types.NextRequest``, ...) of a message; BadMessage when it is not one."""
    seq = message.get("seq") if isinstance(message.get("seq"), int) else None
    command = message.get("command") if isinstance(message.get("command"), str) else None
    if message.get("type") != "request":
        raise BadMessage(f"A message of type {message.get('type')!r} was sent to the adapter; it takes requests only.",
                         seq, command)
    if seq is None or command is None:
        raise BadMessage("A request needs an integer seq and a command.", seq, command)
    if command in CUSTOM_COMMANDS:
        return CustomRequest(seq, command, message.get("arguments"))
    try:
        return _requests().validate_python(message)
    except ValidationError as e:
        if any(err["type"] == "union_tag_invalid" for err in e.errors()):
            raise BadMessage(f"neurodebug does not support the {command!r} request.", seq, command) from None
        raise BadMessage(request_sentence(e, command), seq, command) from None


def request_sentence(error: ValidationError, command: str) -> str:
    """One sentence for the first problem of a request's arguments: "The 'next' request's argument
    threadId is missing."."""

    def subject(loc: list[str]) -> str:
        if len(loc) > 1 and loc[0] != "arguments":
            loc = loc[1:]  # the tag of the union (the command name)
        if loc and loc[0] == "arguments":
            loc = loc[1:]
        return f"The {command!r} request's argument {'.'.join(loc) or 'arguments'}"

    return validation_sentence(error, subject)


def dump(value: Any) -> Any:
    """JSON-ready data of a dap_types model (or of lists/dicts of them), without unset fields."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, list):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


class Writer:
    """Sends responses and events, numbered from 1, one whole message at a time (thread-safe)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._seq = 0
        self._lock = threading.Lock()

    def _send(self, message: dict) -> None:
        with self._lock:
            self._seq += 1
            body = json.dumps({"seq": self._seq, **message}, ensure_ascii=False).encode("utf-8")
            try:
                self._stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
                self._stream.flush()
            except (BrokenPipeError, ConnectionError, ValueError, OSError):
                pass  # the client is gone; the reader sees the end of its stream

    def respond(self, request_seq: int, command: str, body: Any = None) -> None:
        message = {"type": "response", "request_seq": request_seq, "success": True, "command": command}
        if body is not None:
            message["body"] = dump(body)
        self._send(message)

    def fail(self, request_seq: int, command: str, sentence: str) -> None:
        """An error response: the sentence is both the short message and the one shown to the user."""
        self._send({"type": "response", "request_seq": request_seq, "success": False, "command": command,
                    "message": sentence,
                    "body": {"error": {"id": 1, "format": sentence, "showUser": True}}})

    def cancelled(self, request_seq: int, command: str) -> None:
        """The answer to a request the client gave up on: the specification's error "cancelled",
        which clients do not show."""
        self._send({"type": "response", "request_seq": request_seq, "success": False, "command": command,
                    "message": "cancelled"})

    def event(self, event: str, body: Any = None) -> None:
        message = {"type": "event", "event": event}
        if body is not None:
            message["body"] = dump(body)
        self._send(message)
