"""The installed layout: nothing of ours can be shadowed by a user's files, and the layers hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SHADOWS = ("model", "lsp", "tui", "frames", "codec", "tracer", "session", "flow")


def test_predict_runs_in_a_folder_whose_files_share_our_module_names(tmp_path, cwm_checkpoint):
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the user file {name}.py was imported')\n")
    (tmp_path / "prog.py").write_text("def f(n):\n    m = n + 1\n    return m\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-m", "neurodebug", "predict", "prog.py", "--call", "f(1)", "--model", str(cwm_checkpoint),
         "--max-frames", "3", "--max-frame-tokens", "8", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "was imported" not in proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["frames"][0]["event"] == "call"


def test_no_top_level_model_lsp_or_tui_package_is_installed():
    import neurodebug.lsp
    import neurodebug.model
    import neurodebug.tui

    for pkg in (neurodebug.model, neurodebug.lsp, neurodebug.tui):
        assert pkg.__name__.startswith("neurodebug.")
    probe = "import importlib.util as u; print([n for n in ('model', 'lsp', 'tui') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-P", "-c", probe], cwd="/", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
