"""The TUI in a real terminal: started in tmux, driven with send-keys, read with capture-pane."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    """One detached tmux session on a private server, 120x40, running ``command``."""

    def __init__(self, command: str, cwd: Path):
        self.socket = f"nd-{uuid.uuid4().hex[:8]}"
        self.name = "tui"
        # COLUMNS/LINES (set by some test runners) would override the pane's real size
        env = (f"cd {shlex.quote(str(cwd))} && exec env -u COLUMNS -u LINES TERM=xterm-256color "
               f"PYTHONPATH={shlex.quote(str(ROOT))} {command}")
        self.tmux("new-session", "-d", "-s", self.name, "-x", "120", "-y", "40", env)

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", self.name).returncode == 0

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name).stdout

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; the pane shows:\n{screen}")

    def wait_gone(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def tmux_run():
    sessions = []

    def start(command: str, cwd: Path) -> Tmux:
        t = Tmux(command, cwd)
        sessions.append(t)
        return t

    yield start
    for t in sessions:
        t.close()


def test_steps_through_a_program_in_a_real_terminal(tmux_run, programs):
    t = tmux_run(f"{shlex.quote(sys.executable)} -m tests.tui.replay_app calls.py 3", programs)
    t.wait_for("q quit")  # the footer, at the full width of the terminal
    screen = t.wait_for("real run: returned 12")
    assert "def add(a, b):" in screen and "step 1" in screen
    assert "s step" in screen and "q quit" in screen  # the footer's keys
    assert "▶●" in screen  # predicted and real marker on the call line

    t.send("s")
    screen = t.wait_for("step 2")
    assert "t = add(n, 2)" in screen
    t.send("s")
    screen = t.wait_for("in add()")
    assert "depth 1" in screen

    t.send("?")
    t.wait_for("neurodebug keys")
    t.send("Escape")
    deadline = time.monotonic() + 10
    while "neurodebug keys" in t.screen() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "neurodebug keys" not in t.screen()

    t.send("c")
    screen = t.wait_for("step 15 of 15")
    assert "returned 12" in screen and "return t * 2" in screen

    t.send("q")
    assert t.wait_gone(), t.screen()


def test_cli_shows_a_failure_as_one_sentence(tmux_run, programs, tmp_path):
    missing = tmp_path / "no-model"
    cli = f"{shlex.quote(sys.executable)} -m neurodebug tui calls.py --call 3 --model {shlex.quote(str(missing))}"
    # the shell stays after the app, to show what the command printed and its exit status
    t = tmux_run(f"sh -c {shlex.quote(cli + '; echo exit status $?; sleep 30')}", programs)
    t.wait_for("q quit")
    screen = t.wait_for("There is no model at")
    assert "Traceback" not in screen
    assert "def add(a, b):" in screen  # the file is shown even without a model
    t.send("q")
    # once the app is gone the sentence is repeated in the terminal, and the exit status says it failed
    screen = t.wait_for("exit status")
    assert "exit status 2" in screen
    assert f"neurodebug: There is no model at {missing}." in screen.replace("\n", "")
