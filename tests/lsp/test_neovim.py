"""A real editor no one here wrote: Neovim, headless, attaches the server with its own LSP client."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import EXAMPLE, ROOT
from tests.subprocesses import neurodebug_env

NVIM = shutil.which("nvim")


@pytest.mark.skipif(NVIM is None, reason="Neovim (nvim) is not installed")
def test_neovim_gets_code_lenses_inlay_hints_and_diagnostics(replay_file, tmp_path):
    source = tmp_path / "example.py"
    source.write_text(EXAMPLE)
    out = tmp_path / "results.json"
    env = {**neurodebug_env(), "NEURODEBUG_NVIM_FILE": str(source), "NEURODEBUG_NVIM_OUT": str(out),
           "NEURODEBUG_NVIM_CMD": json.dumps([sys.executable, "-m", "tests.lsp.replay", str(replay_file)]),
           "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    script = Path(__file__).with_name("nvim_client.lua")
    proc = subprocess.run([NVIM, "--headless", "--clean", "-n", "-c", f"luafile {script}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert out.exists(), f"nvim wrote no results (rc {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    results = json.loads(out.read_text())
    assert results.get("error") in (None, ""), results.get("error")

    lenses = [(lens["range"]["start"]["line"], lens["command"]["command"]) for lens in results["lenses"]]
    assert lenses == [(1, "neurodebug.predict"), (1, "neurodebug.compare"),
                      (10, "neurodebug.predict"), (10, "neurodebug.compare"),
                      (15, "neurodebug.predict"), (15, "neurodebug.compare")]
    assert results["compare"]["frames"] == 17

    hints = {h["position"]["line"]: h["label"] for h in results["hints"]}
    assert hints == {2: "n = 0", 3: "c = 'y'", 5: "n = 4  real 2", 6: "return 4  real 2"}
    assert all(h["position"]["character"] == len(EXAMPLE.splitlines()[h["position"]["line"]]) for h in results["hints"])

    info = [d for d in results["diagnostics"] if d["severity"] == 3]  # vim.diagnostic.severity.INFO
    assert [d["lnum"] for d in info] == [5] and "the model predicted 2" in info[0]["message"]

    assert results["step"]["index"] == 0 and results["hints_after_reset"] == []
