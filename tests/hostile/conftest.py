"""Hostile functions run for real by `neurodebug trace` in a subprocess, as a user would run them.

Each run gets a workspace of "user files" (the program and its neighbours), a token in its
environment (every process it starts inherits it, so the process table shows what is left
running), a canary server on 127.0.0.1 that counts connections, and tight limits so that the
whole set stays seconds long. See test_hostile.py for what each function does and must end in.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.subprocesses import neurodebug_env

ROOT = Path(__file__).resolve().parents[2]
#: Limits of every hostile run (the CLI's flags); a run must end well within WALL_S + STARTUP_S.
LIMITS = ["--wall", "4", "--cpu", "4", "--memory", "512", "--max-output", "4096", "--max-frames", "2000"]
WALL_S = 4.0
STARTUP_S = 10.0  # interpreter start on a busy 2-core machine, before the wall clock starts


@dataclass
class Outcome:
    returncode: int
    sentence: str  # the one sentence the run ended in (stderr for exit 2, the JSON end otherwise)
    trace: dict | None
    elapsed_s: float
    stderr: str


def workspace_digest(root: Path) -> dict[str, str]:
    """path -> sha256 of every file under ``root`` (what the user's files were)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def processes_with(token: str) -> list[int]:
    """PIDs of the processes whose environment holds ``token`` (the runs' descendants)."""
    found = []
    needle = token.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


class Canary:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.close()


@pytest.fixture
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def workspace(tmp_path):
    """A project directory: the traced program goes here beside files the user cares about."""
    ws = tmp_path / "project"
    ws.mkdir()
    (ws / "data.txt").write_text("the user's data\n")
    (ws / "notes").mkdir()
    (ws / "notes" / "todo.md").write_text("- keep me\n")
    return ws


def run_trace(program: Path, call: str, token: str, isolation: str, extra=()) -> Outcome:
    """`neurodebug trace PROGRAM --call CALL --json` in a subprocess with the hostile limits."""
    env = neurodebug_env(NEURODEBUG_HOSTILE_TOKEN=token)
    argv = [sys.executable, "-m", "neurodebug", "trace", str(program), "--call", call, "--json",
            "--isolation", isolation, *LIMITS, *extra]
    start = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(program.parent),
                       timeout=WALL_S + STARTUP_S + 30)
    elapsed = time.monotonic() - start
    trace = None
    if p.returncode == 0:
        trace = json.loads(p.stdout)
        sentence = trace["end"]["message"]
    else:
        lines = [line for line in p.stderr.splitlines() if line.strip()]
        sentence = lines[-1].removeprefix("neurodebug: ") if lines else ""
    return Outcome(p.returncode, sentence, trace, elapsed, p.stderr)


@pytest.fixture
def token():
    return f"nd-hostile-{uuid.uuid4().hex}"
