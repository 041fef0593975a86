"""Bubblewrap isolation of a real run: what the traced code can see, change and reach.

With isolation (``bwrap``, or ``auto`` where bubblewrap can start) the traced process runs in
``bwrap`` with:

* a read-only view of the whole file system (the program, its neighbours, the libraries);
* a private writable scratch directory as its working directory, and a private ``/tmp`` and
  ``/dev/shm``: small in-memory file systems (``Limits.disk_mb`` each) gone when the run ends;
* no network: its own network namespace has only a loopback of its own;
* its own PID, IPC, UTS and user namespaces: it sees only its own processes, cannot signal
  neurodebug or anything else, every process it starts dies with it, and it cannot make
  namespaces of its own (``--disable-userns``);
* a new session (no terminal to push input into), and no capabilities;
* plus the limits that apply without isolation (time, CPU, memory, output, frames).

``auto`` falls back to the limits alone where bwrap is missing or cannot start (a container
that refuses namespaces), and says so in one sentence, once per process.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile

from neurodebug.errors import UserError

MODES = ("auto", "bwrap", "none")
#: Where the run works: a directory of its private /tmp (never a directory of the host).
SCRATCH = "/tmp/neurodebug-run"
_said_fallback = False


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot isolate runs here (one sentence), or None when it can.

    Tried once per process with the same namespaces a run uses, so a container that refuses
    them is found out before the first run, not in the middle of one.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    probe = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--unshare-user",
             "--disable-userns", "--die-with-parent", "--", "true"]
    try:
        p = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not start ({type(e).__name__})"
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1].removeprefix("bwrap: ")
        return f"bubblewrap cannot start here ({why.rstrip('.')})"
    return None


def use_bwrap(mode: str) -> bool:
    """Whether a run in ``mode`` is isolated; ``bwrap`` that cannot start is a UserError, and
    ``auto`` falling back says so on stderr, once per process."""
    global _said_fallback
    if mode not in MODES:
        raise UserError(f"Unknown isolation {mode!r}; use one of {', '.join(MODES)}.")
    if mode == "none":
        return False
    problem = bwrap_problem()
    if problem is None:
        return True
    if mode == "bwrap":
        raise UserError(f"Isolation bwrap was asked for, but {problem}.")
    if not _said_fallback:
        _said_fallback = True
        print(f"neurodebug: {problem[0].upper() + problem[1:]}, so real runs have the time, memory and output "
              "limits but no isolation (see README, \"What a real run can do\").", file=sys.stderr, flush=True)
    return False


def _under_tmp(path: str) -> bool:
    """Whether ``path`` lies inside the host's /tmp (not /tmp itself, which stays private)."""
    real = os.path.realpath(path)
    return any(real.startswith(t + os.sep) for t in {"/tmp", os.path.realpath(tempfile.gettempdir())})


def command(argv: list[str], visible: list[str], disk_mb: int) -> list[str]:
    """``argv`` wrapped in bwrap as the module docstring says.

    ``visible``: directories the run must read although they lie under the host's /tmp (the
    traced program's own directory, say), which the private /tmp would otherwise hide. A
    program right in /tmp still runs (its source comes over a pipe), without its neighbours.
    """
    size = str(int(disk_mb) * 1024 * 1024)
    cmd = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", "/dev/shm"]
    for d in sorted({os.path.realpath(v) for v in visible if v and os.path.isdir(v) and _under_tmp(v)}):
        cmd += ["--ro-bind", d, d]
    cmd += ["--dir", SCRATCH, "--chdir", SCRATCH, "--setenv", "TMPDIR", "/tmp",
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--"]
    return cmd + argv


def signal_of(returncode: int) -> int | None:
    """The signal that ended the isolated process, from bwrap's exit status (128 + signal)."""
    return returncode - 128 if 128 < returncode < 128 + 65 else None
