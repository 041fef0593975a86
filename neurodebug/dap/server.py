"""Serving the adapter: over stdio (one client), or on 127.0.0.1:PORT (one adapter per connection)."""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import BinaryIO

from neurodebug.dap.adapter import Adapter, Predictors
from neurodebug.dap.protocol import BadMessage, Writer, read_message
from neurodebug.errors import UserError


def serve(instream: BinaryIO, outstream: BinaryIO, predictors: Predictors | None = None) -> None:
    """Read requests until the client disconnects or its stream ends."""
    adapter = Adapter(Writer(outstream), predictors)
    try:
        while not adapter.done:
            try:
                message = read_message(instream)
            except BadMessage as e:
                adapter.bad(e)
                continue
            if message is None:
                break
            adapter.handle(message)
    finally:
        adapter.close()


def serve_stdio(predictors: Predictors | None = None) -> None:
    """DAP on stdin/stdout. Anything else that writes to stdout (a library's print, a C extension)
    is sent to stderr instead, so it cannot corrupt the protocol stream."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, protocol_out, predictors)


def serve_tcp(port: int, predictors: Predictors | None = None, ready=None) -> None:
    """DAP on 127.0.0.1:``port``, each connection its own debug session, until interrupted."""
    predictors = predictors or Predictors()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as e:
        raise UserError(f"Cannot listen on 127.0.0.1:{port}: {e.strerror or e}.") from None
    listener.listen()
    print(f"neurodebug dap: listening on 127.0.0.1:{listener.getsockname()[1]}", file=sys.stderr, flush=True)
    with listener:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_connection, args=(conn, predictors), daemon=True,
                             name="neurodebug-dap-client").start()


def _serve_connection(conn: socket.socket, predictors: Predictors) -> None:
    with conn, conn.makefile("rb") as instream, conn.makefile("wb") as outstream:
        serve(instream, outstream, predictors)
