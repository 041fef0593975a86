"""Hostile functions: each real run ends in one sentence within the limits, leaves the user's
files as they were, reaches nothing on the network, and leaves nothing running.

Every case runs isolated (bubblewrap; skipped where it cannot start). The cases that only test
the limits (output, memory, recursion, time, crashes) also run with ``--isolation none``.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
import time
from dataclasses import dataclass

import pytest

from neurodebug.real.isolation import bwrap_problem
from tests.hostile.conftest import STARTUP_S, WALL_S, processes_with, run_trace, workspace_digest


@dataclass(frozen=True)
class Case:
    name: str
    body: str  # the body of `def hostile():`; {data} {port} {token} {project} are filled in
    sentence: str  # a regular expression the end's sentence must match (re.search)
    limits_only: bool = False  # safe and meaningful without isolation too


CASES = [
    Case("delete a file next to the program", "os.remove({data!r})", r"raised .*Read-only file system"),
    Case("overwrite a file next to the program", "open({data!r}, 'w').write('gone')",
         r"raised .*Read-only file system"),
    Case("overwrite the program itself", "open(__file__, 'w').write('')", r"raised .*Read-only file system"),
    Case("delete the whole project", "shutil.rmtree({project!r})", r"raised .*Read-only file system"),
    Case("write a file in /tmp", "open('/tmp/' + {token!r}, 'w').write('x')\nreturn sorted(os.listdir('/tmp'))",
         r"returned \[.*'nd-hostile-"),
    Case("write in the home directory", "open(os.path.expanduser('~/.' + {token!r}), 'w').write('x')",
         r"raised .*Read-only file system"),
    Case("write in the working directory (the scratch)", "open('out.txt', 'w').write('x')\nreturn os.getcwd()",
         r"returned '/tmp/neurodebug-run'\."),
    Case("fill /dev/shm", "open('/dev/shm/big', 'wb').write(b'x' * 200_000_000)",
         r"raised .*(No space left on device|out of memory)|ran out of memory"),
    Case("connect to a server on 127.0.0.1", "socket.create_connection(('127.0.0.1', {port}), 2)",
         r"raised ConnectionRefusedError"),
    Case("kill the parent", "os.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(0.2)\nreturn 'still here'",
         r"returned 'still here'\."),
    Case("kill every process it can", "assert os.getpid() < 10, 'not in a PID namespace'\n"
                                       "child = subprocess.Popen(['sleep', '60'])\n"
                                       "os.kill(-1, signal.SIGKILL)\nchild.wait()\nreturn 'still here'",
         r"returned 'still here'\."),
    Case("kill its own process group", "os.killpg(0, signal.SIGKILL)", r"killed by signal SIGKILL\."),
    Case("leave ten orphan processes",
         "for _ in range(10):\n    subprocess.Popen(['sleep', '60'], start_new_session=True)\nreturn 10",
         r"returned 10\."),
    Case("daemonize (double fork)", "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
                                    "        time.sleep(60)\n    os._exit(0)\nreturn 'parent'",
         r"returned 'parent'\."),
    Case("a fork loop", "n = 0\nfor _ in range(100):\n    if os.fork() == 0:\n        time.sleep(60)\n"
                        "        os._exit(0)\n    n += 1\nreturn n",
         # 100 as root (RLIMIT_NPROC does not bind root); on a busy machine the wall time may end it first
         r"returned 100\.|raised BlockingIOError|ran longer than the wall-time limit"),
    Case("read stdin", "return input()", r"raised EOFError", limits_only=True),
    Case("huge output", "sys.stdout.write('x' * 20_000_000)\nreturn 'printed'", r"returned 'printed'\.",
         limits_only=True),
    Case("deep recursion", "def down(n):\n    return down(n + 1)\nreturn down(0)",
         r"raised RecursionError.*recording stopped at the recursion limit", limits_only=True),
    Case("segfault", "import ctypes\nreturn ctypes.string_at(0)", r"killed by signal SIGSEGV\.", limits_only=True),
    Case("allocate 10 GB", "return len(bytearray(10 * 2**30))", r"ran out of memory \(limit 512 MB\)",
         limits_only=True),
    Case("turn tracing off", "sys.settrace(None)\nx = 1\nreturn x", r"returned 1\.", limits_only=True),
    Case("a thread that never ends", "threading.Thread(target=time.sleep, args=(1000,)).start()\nreturn 'main done'",
         r"returned 'main done'\.", limits_only=True),
    Case("os._exit", "os._exit(3)", r"ended the process with exit status 3\.", limits_only=True),
    Case("a repr that raises", "class R:\n    def __repr__(self):\n        raise ValueError('no')\nreturn R()",
         r"returned <repr failed: ValueError>\.", limits_only=True),
    Case("a repr that never ends", "class R:\n    def __repr__(self):\n        while True:\n            pass\n"
                                   "r = R()\nreturn r",
         r"ran longer than the wall-time limit|used more than the CPU-time limit", limits_only=True),
    Case("a huge repr", "class R:\n    def __repr__(self):\n        return 'x' * 10_000_000\nreturn R()",
         r"returned x{20,}", limits_only=True),
    Case("close every file descriptor", "os.closerange(0, 4096)\nreturn 1",
         r"ended the process with exit status 1\.", limits_only=True),
    Case("an endless loop", "while True:\n    pass",
         r"ran longer than the wall-time limit|used more than the CPU-time limit|reached the limit of 2000 frames",
         limits_only=True),
    Case("sleep forever", "time.sleep(1000)", r"ran longer than the wall-time limit of 4 s\.", limits_only=True),
]

HEADER = "import os, shutil, signal, socket, subprocess, sys, threading, time\n\n\ndef hostile():\n"


def program(case: Case, workspace, canary, token) -> str:
    body = case.body.format(data=str(workspace / "data.txt"), port=canary.port, token=token,
                            project=str(workspace))
    return HEADER + textwrap.indent(body, "    ") + "\n"


NO_BWRAP = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no isolation here: {bwrap_problem()}")


def isolation_params(cases) -> list:
    """Every case isolated; the cases that test only the limits also without isolation."""
    out = []
    for c in cases:
        out.append(pytest.param(c, "bwrap", marks=NO_BWRAP, id=f"{c.name} [bwrap]"))
        if c.limits_only:
            out.append(pytest.param(c, "none", id=f"{c.name} [none]"))
    return out


@pytest.mark.parametrize("case, isolation", isolation_params(CASES))
def test_hostile_function_ends_in_one_sentence_and_harms_nothing(case, isolation, workspace, canary, token):
    prog = workspace / "hostile.py"
    prog.write_text(program(case, workspace, canary, token))
    before = workspace_digest(workspace)
    outside = f"/tmp/{token}"

    out = run_trace(prog, "hostile()", token, isolation)

    assert out.returncode == 0, out.stderr
    assert re.search(case.sentence, out.sentence), out.sentence
    assert "\n" not in out.sentence and len(out.sentence) < 300 and out.sentence.endswith("."), out.sentence
    assert out.elapsed_s < WALL_S + STARTUP_S, f"took {out.elapsed_s:.1f} s"
    assert workspace_digest(workspace) == before  # the user's files are as they were
    assert not os.path.exists(outside) and not os.path.exists(os.path.expanduser(f"~/.{token}"))
    assert canary.accepted == 0
    deadline = time.monotonic() + 2.0  # the kernel tears a PID namespace down asynchronously
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(token) == [], "processes left running"


def test_at_least_twenty_hostile_functions():
    assert len(CASES) >= 20 and len({c.name for c in CASES}) == len(CASES)


def test_the_scratch_directory_and_tmp_are_gone_after_the_run(workspace, canary, token):
    if bwrap_problem() is not None:
        pytest.skip(f"no isolation here: {bwrap_problem()}")
    prog = workspace / "keep.py"
    prog.write_text("def keep():\n    open('left.txt', 'w').write('x')\n    open('/tmp/left.txt', 'w').write('x')\n"
                    "    return sorted(os.listdir('.'))\n\n\nimport os\n")
    out = run_trace(prog, "keep()", token, "bwrap")
    assert out.sentence == "keep() returned ['left.txt']."
    assert not (workspace / "left.txt").exists() and shutil.which("bwrap")
