"""A Debug Adapter Protocol client, written from the specification, for tests over a real stream.

The base protocol: each message is ``Content-Length: N\\r\\n\\r\\n`` followed by N bytes of UTF-8
JSON; requests carry ``seq``, ``type: "request"``, ``command`` and ``arguments``; the adapter
answers with ``type: "response"`` (``request_seq``, ``success``, ``message``, ``body``) and sends
``type: "event"`` messages (``event``, ``body``) on its own.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from typing import BinaryIO

TIMEOUT_S = 60.0


class DapClient:
    """Sends requests and collects every response and event the adapter sends, in order."""

    def __init__(self, instream: BinaryIO, outstream: BinaryIO, closer=None):
        self._in, self._out, self._closer = instream, outstream, closer
        self._seq = 0
        self.messages: list[dict] = []
        self._arrived = threading.Condition()
        self._taken: set[int] = set()  # indices of the events ``event()`` returned
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def spawn(cls, command: list[str], **popen) -> DapClient:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
        client = cls(proc.stdout, proc.stdin, closer=proc)
        client.proc = proc
        client.stderr = []
        threading.Thread(target=lambda: client.stderr.extend(proc.stderr), daemon=True).start()
        return client

    @classmethod
    def connect(cls, port: int) -> DapClient:
        sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        sock.settimeout(None)
        return cls(sock.makefile("rb"), sock.makefile("wb"), closer=sock)

    # -- the wire ---------------------------------------------------------------------------------

    def _read(self) -> None:
        while True:
            length = None
            while True:
                line = self._in.readline()
                if not line:
                    self._closed()
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "the adapter sent a header without Content-Length"
            message = json.loads(self._in.read(length).decode("utf-8"))
            with self._arrived:
                self.messages.append(message)
                self._arrived.notify_all()

    def _closed(self) -> None:
        with self._arrived:
            self.messages.append({"type": "closed"})
            self._arrived.notify_all()

    def send_raw(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- requests, responses, events --------------------------------------------------------------------

    def start(self, command: str, arguments: dict | None = None) -> int:
        """Send a request; returns its seq (see ``response``)."""
        seq = self.next_seq()
        message = {"seq": seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        self.send(message)
        return seq

    def response(self, seq: int, timeout: float = TIMEOUT_S) -> dict:
        return self._wait(lambda m: m.get("type") == "response" and m.get("request_seq") == seq, timeout,
                          f"a response to request {seq}")

    def request(self, command: str, arguments: dict | None = None, timeout: float = TIMEOUT_S) -> dict:
        """Send a request and wait for its response (successful or not)."""
        return self.response(self.start(command, arguments), timeout)

    def ok(self, command: str, arguments: dict | None = None, timeout: float = TIMEOUT_S) -> dict:
        """Send a request; its response's body, asserting that it succeeded."""
        response = self.request(command, arguments, timeout)
        assert response["success"], f"{command} failed: {response.get('message')}"
        assert response["command"] == command
        return response.get("body") or {}

    def event(self, name: str, timeout: float = TIMEOUT_S) -> dict:
        """The first event called ``name`` not returned before (events of other names are left)."""
        def match(i, m):
            return m.get("type") == "event" and m["event"] == name and i not in self._taken

        found = self._wait_index(match, timeout, f"a {name!r} event")
        self._taken.add(found)
        return self.messages[found]

    def events(self, name: str) -> list[dict]:
        with self._arrived:
            return [m for m in self.messages if m.get("type") == "event" and m["event"] == name]

    def _wait(self, match, timeout: float, what: str) -> dict:
        return self.messages[self._wait_index(lambda i, m: match(m), timeout, what)]

    def _wait_index(self, match, timeout: float, what: str) -> int:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for i, m in enumerate(self.messages):
                    if match(i, m):
                        return i
                if any(m.get("type") == "closed" for m in self.messages):
                    raise AssertionError(f"the adapter closed its stream before {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {what} within {timeout} s; got {self.messages[-5:]}")
                self._arrived.wait(left)

    def wait_closed(self, timeout: float = TIMEOUT_S) -> None:
        self._wait(lambda m: m.get("type") == "closed", timeout, "the end of the stream")

    def close(self) -> None:
        if isinstance(self._closer, subprocess.Popen):
            self._closer.kill()
            self._closer.wait()
        elif self._closer is not None:
            self._closer.close()
