"""Hostile modules: the misbehaviour is at import time, before the entry is called. Each run ends
in one sentence within the limits, leaves the user's files as they were, reaches nothing on the
network and leaves nothing running, as in test_hostile.py."""

from __future__ import annotations

import re
import textwrap
import time

import pytest

from tests.hostile.conftest import STARTUP_S, WALL_S, processes_with, run_trace, workspace_digest
from tests.hostile.test_hostile import Case, isolation_params

IMPORTING = "while the module hostile.py was being imported"

CASES = [
    Case("sys.exit at import", "sys.exit(3)", r"^Running the module hostile\.py called sys\.exit\(3\) at line 3\.$",
         limits_only=True),
    Case("raise SystemExit at import", "raise SystemExit('bye')",
         r"^Running the module hostile\.py called sys\.exit\('bye'\) at line 3\.$", limits_only=True),
    Case("os._exit at import", "os._exit(5)", rf"^The traced code ended the process with exit status 5 {IMPORTING}\.$",
         limits_only=True),
    Case("spin forever at import", "while True:\n    pass",
         rf"(ran longer than the wall-time limit of 4 s|used more than the CPU-time limit of 4 s) {IMPORTING}\.$",
         limits_only=True),
    Case("sleep forever at import", "time.sleep(1000)", rf"ran longer than the wall-time limit of 4 s {IMPORTING}\.$",
         limits_only=True),
    Case("allocate 10 GB at import", "big = bytearray(10 * 2**30)",
         rf"ran out of memory \(limit 512 MB\) at line 3 {IMPORTING}\.$", limits_only=True),
    Case("kill itself at import", "os.kill(os.getpid(), signal.SIGKILL)",
         rf"killed by signal SIGKILL {IMPORTING}\.$", limits_only=True),
    Case("KeyboardInterrupt at import", "raise KeyboardInterrupt",
         r"^Running the module hostile\.py raised KeyboardInterrupt\(\) at line 3\.$", limits_only=True),
    Case("delete a file next to the program at import", "os.remove({data!r})",
         r"^Running the module hostile\.py raised .*Read-only file system.* at line 3\.$"),
    Case("leave an orphan process at import, then return",
         "subprocess.Popen(['sleep', '60'], start_new_session=True)", r"^hostile\(\) returned 'reached'\.$"),
    Case("a thread that never ends, started at import", "threading.Thread(target=time.sleep, args=(1000,)).start()",
         r"^hostile\(\) returned 'reached'\.$", limits_only=True),
]

HEADER = "import os, signal, subprocess, sys, threading, time\n\n"
ENTRY = "\n\ndef hostile():\n    return 'reached'\n"


@pytest.mark.parametrize("case, isolation", isolation_params(CASES))
def test_hostile_module_ends_in_one_sentence_and_harms_nothing(case, isolation, workspace, canary, token):
    prog = workspace / "hostile.py"
    prog.write_text(HEADER + textwrap.dedent(case.body.format(data=str(workspace / "data.txt"))) + "\n" + ENTRY)
    before = workspace_digest(workspace)

    out = run_trace(prog, "hostile()", token, isolation)

    # an import that fails is the user's error (exit 2, the sentence on stderr); the others are recorded
    assert out.returncode in (0, 2) and "Traceback" not in out.stderr, out.stderr
    assert re.search(case.sentence, out.sentence), out.sentence
    assert "\n" not in out.sentence and len(out.sentence) < 300 and out.sentence.endswith("."), out.sentence
    assert out.elapsed_s < WALL_S + STARTUP_S, f"took {out.elapsed_s:.1f} s"
    assert workspace_digest(workspace) == before
    assert canary.accepted == 0
    deadline = time.monotonic() + 2.0
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(token) == [], "processes left running"
