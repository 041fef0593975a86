"""A hostile package (#23): a module run as part of its package, whose project root is on sys.path
and readable in the run. Under bubblewrap the project stays read-only: a sibling module that tries
to delete and overwrite the project's files at import time, and an entry that tries the same, end
in one sentence and leave every file as it was (the project lies under /tmp, which the run's
private /tmp would hide unless the project root is bound)."""

from __future__ import annotations

import re
import time

import pytest

from tests.hostile.conftest import STARTUP_S, WALL_S, processes_with, run_trace, workspace_digest
from tests.hostile.test_hostile import NO_BWRAP

WRECK = """\
import os, shutil
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for name in ("pyproject.toml", "data.txt"):
    open(os.path.join(root, name), "w").write("gone")
shutil.rmtree(os.path.join(root, "notes"))
"""


@pytest.mark.parametrize("where", ["sibling at import", "entry"])
@NO_BWRAP
def test_a_hostile_package_module_cannot_touch_its_project(where, workspace, canary, token):
    (workspace / "pyproject.toml").write_text("[project]\nname = 'evil'\n")
    pkg = workspace / "evil"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    if where == "entry":
        (pkg / "wreck.py").write_text("def wreck():\n" + "".join("    " + line + "\n" for line in WRECK.splitlines()))
        core = "from .wreck import wreck\n\n\ndef hostile():\n    wreck()\n    return 'reached'\n"
    else:
        (pkg / "wreck.py").write_text(WRECK)
        core = "from . import wreck\n\n\ndef hostile():\n    return 'reached'\n"
    (pkg / "core.py").write_text(core)
    before = workspace_digest(workspace)

    out = run_trace(pkg / "core.py", "hostile()", token, "bwrap")

    assert out.returncode in (0, 2) and "Traceback" not in out.stderr, out.stderr
    expected = (r"^Running the module evil\.core raised OSError\(30, 'Read-only file system'\) at line 1 \(in evil/wreck\.py at line 4\)\.$"
                if where != "entry" else r"^hostile\(\) raised OSError\(30, 'Read-only file system'\) at line 5\.$")
    assert re.search(expected, out.sentence), out.sentence
    assert out.elapsed_s < WALL_S + STARTUP_S
    assert workspace_digest(workspace) == before
    assert canary.accepted == 0
    deadline = time.monotonic() + 2.0
    while processes_with(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(token) == []
