"""`neurodebug dap` itself: the command editors start (stdio, with -P), and --port, on a real model."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest

from neurodebug.backends import bundled_model
from tests.dap.client import DapClient
from tests.dap.conftest import INITIALIZE, ROOT, start
from tests.subprocesses import neurodebug_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(bundled_model() is None, reason="the bundled model is not installed")
def test_stdio_on_the_bundled_model(program, tmp_path):
    # as editors start it: -P keeps the workspace (cwd) off sys.path; no model named: the bundled one
    client = DapClient.spawn([sys.executable, "-P", "-m", "neurodebug", "dap"], cwd=str(tmp_path), env=neurodebug_env())
    try:
        stopped = start(client, program, maxFrames=20)
        assert stopped["body"]["reason"] == "entry"
        frames = client.ok("stackTrace", {"threadId": 1})["stackFrames"]
        assert [(f["name"], f["line"]) for f in frames] == [("total", 2)]
        client.ok("next", {"threadId": 1})
        client.event("stopped")
        line = client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["line"]
        assert line in (3, 4, 5, 6, 7)  # constrained to lines the control flow allows after line 2
        client.ok("stepBack", {"threadId": 1})
        client.event("stopped")
        assert client.ok("stackTrace", {"threadId": 1})["stackFrames"][0]["line"] == 2
        client.ok("disconnect", {})
        client.wait_closed()
        assert client.proc.wait(30) == 0
        assert "Traceback" not in b"".join(client.stderr).decode()
    finally:
        client.close()


def test_port_serves_one_session_per_connection(program, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neurodebug", "dap", "--port", str(port)], cwd=ROOT,
                            env=neurodebug_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            try:
                first = DapClient.connect(port)
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        caps = first.ok("initialize", INITIALIZE)
        assert caps["supportsStepBack"] is True
        response = first.request("launch", {"program": str(program), "entry": "total", "backend": "nope"})
        assert not response["success"]
        assert response["message"].startswith("The launch attribute 'backend' cannot be 'nope'")
        missing = tmp_path / "missing"
        response = first.request("launch", {"program": str(program), "entry": "total", "model": str(missing)})
        assert not response["success"]
        assert re.fullmatch(r"There is no model at .*missing\.", response["message"]), response["message"]
        assert first.ok("threads")["threads"][0]["id"] == 1  # still up
        first.ok("disconnect", {})
        first.wait_closed()
        second = DapClient.connect(port)  # the server is still up for the next debug session
        assert second.ok("initialize", INITIALIZE)["supportsStepBack"] is True
        second.close()
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_bad_port_is_one_sentence():
    proc = subprocess.run([sys.executable, "-m", "neurodebug", "dap", "--port", "70000"], cwd=ROOT, env=neurodebug_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "neurodebug: --port needs a port between 1 and 65535, not 70000."
