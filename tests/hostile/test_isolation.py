"""--isolation: bwrap where it can start; auto falls back to the limits alone and says so once;
bwrap asked for where it cannot start is one sentence (exit 2). Checked with a PATH that has no
bwrap, and with a bwrap that refuses namespaces as some containers do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from neurodebug.real.isolation import bwrap_problem, command
from tests.hostile.conftest import ROOT

PROG = "def where():\n    import os\n    return os.getcwd()\n"
REFUSING_BWRAP = "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because the kernel does not " \
                 "allow non-privileged user namespaces.' >&2\nexit 1\n"


def trace(tmp_path, path_dirs: list, *flags) -> subprocess.CompletedProcess:
    prog = tmp_path / "where.py"
    prog.write_text(PROG)
    env = dict(os.environ, PATH=os.pathsep.join(map(str, path_dirs)))
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "neurodebug", "trace", str(prog), "--call", "where()", "--json",
                           *flags], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)


@pytest.mark.parametrize("bwrap", ["missing", "refusing"])
def test_auto_falls_back_and_says_so_once_bwrap_is_one_sentence(tmp_path, bwrap):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if bwrap == "refusing":
        (bin_dir / "bwrap").write_text(REFUSING_BWRAP)
        (bin_dir / "bwrap").chmod(0o755)
    p = trace(tmp_path, [bin_dir])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["end"]["value"] == repr(str(tmp_path))  # the user's directory: not isolated
    why = ("bubblewrap (bwrap) is not installed" if bwrap == "missing" else
           "bubblewrap cannot start here (No permissions to creating new namespace, likely because the kernel does "
           "not allow non-privileged user namespaces)")
    assert p.stderr == (f"neurodebug: {why[0].upper() + why[1:]}, so real runs have the time, memory and output limits "
                        "but no isolation (see README, \"What a real run can do\").\n")
    p = trace(tmp_path, [bin_dir], "--isolation", "bwrap")
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == f"neurodebug: Isolation bwrap was asked for, but {why}.\n"
    p = trace(tmp_path, [bin_dir], "--isolation", "none")
    assert (p.returncode, p.stderr) == (0, "")


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"no isolation here: {bwrap_problem()}")
def test_isolated_runs_work_in_a_private_scratch_dir(tmp_path):
    p = trace(tmp_path, os.environ["PATH"].split(os.pathsep))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert json.loads(p.stdout)["end"]["value"] == "'/tmp/neurodebug-run'"


def test_the_bwrap_command():
    cmd = command(["python", "-m", "x"], ["/tmp/pytest-x/project", "/usr/lib", None, "/tmp"], disk_mb=8)
    assert cmd[-4:] == ["--", "python", "-m", "x"]
    text = " ".join(cmd)
    assert "--ro-bind / / --dev /dev --proc /proc --size 8388608 --tmpfs /tmp --size 8388608 --tmpfs /dev/shm" in text
    assert "--ro-bind /tmp/pytest-x/project /tmp/pytest-x/project" not in text  # not a directory here
    assert "--unshare-all --unshare-user --disable-userns --die-with-parent --new-session --cap-drop ALL" in text
    assert "--chdir /tmp/neurodebug-run" in text and "/usr/lib /usr/lib" not in text


@pytest.mark.skipif(bwrap_problem() is not None, reason=f"no isolation here: {bwrap_problem()}")
def test_an_interpreter_under_tmp_still_starts_isolated(tmp_path):
    """The private /tmp hides the host's; a virtualenv there (pytest's own tmp_path) stays visible."""
    import venv

    venv.create(tmp_path / "venv", system_site_packages=True)
    python = tmp_path / "venv" / "bin" / "python"
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from neurodebug.real.tracer import Limits, trace_source; "
            "t = trace_source('def f(n):\\n    return n + 1\\n', 'f', '1', Limits(isolation='bwrap')); print(t.end.message)")
    out = subprocess.run([str(python), "-c", code, str(ROOT)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "f(1) returned 2.", out.stderr
