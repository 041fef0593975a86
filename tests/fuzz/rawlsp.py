"""A raw JSON-RPC client over a server's stdio: it can send what no typed client would (bodies
that are not JSON, wrong types, unknown methods) and reads every message the server writes."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time

from tests.subprocesses import ROOT, neurodebug_env


class RawClient:
    def __init__(self, argv: list[str], env: dict | None = None, cwd: str | None = None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, cwd=cwd)
        self.messages: queue.Queue = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(iter(self.proc.stderr.readline, b"")), daemon=True).start()
        self._next_id = 0

    @classmethod
    def neurodebug(cls, *args: str, **env: str) -> "RawClient":
        """`python -P -m neurodebug ARGS` in the repository root, the checkout under test first on
        its path (-P: the working folder is not, as when an editor starts it)."""
        return cls([sys.executable, "-P", "-m", "neurodebug", *args], env=neurodebug_env(**env), cwd=str(ROOT))

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                continue
            self.messages.put(json.loads(out.read(length)))

    def send_bytes(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message) -> None:
        self.send_bytes(json.dumps(message).encode())

    def request(self, method: str, params=None, timeout: float = 30.0) -> dict:
        """A well-formed request; returns its response (other messages on the way are dropped)."""
        self._next_id += 1
        rid = f"ok-{self._next_id}"
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return self.wait_for(lambda m: m.get("id") == rid and "method" not in m, timeout)

    def notify(self, method: str, params=None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_for(self, match, timeout: float = 30.0, about=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(f"no answer to {about!r} (server "
                                     f"{'exited' if self.proc.poll() is not None else 'silent'}); "
                                     f"stderr: {b''.join(self.stderr[-20:]).decode(errors='replace')}")
            try:
                m = self.messages.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if isinstance(m, dict) and match(m):
                return m

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit")
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - a server that already died is the test's finding
            self.proc.kill()
            self.proc.wait()
