"""The VS Code extension, as far as this machine allows: its JavaScript parses, its editor-free
parts pass `node --test` on a real session's `neurodebug/trace` payload, and (slow) vsce packages it.

`python -m tests.lsp.test_vscode` rewrites lsp/vscode/test/fixtures/trace.json from a real session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.lsp.conftest import ROOT
from tests.sessions import started

EXTENSION = ROOT / "lsp" / "vscode"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")


def trace_notification() -> dict:
    """The params of a `neurodebug/trace` notification: a real session (replayed model), one step back."""
    from neurodebug.model.tokenizer import llama3_tokenizer

    from neurodebug.session import Session
    from tests.lsp.conftest import EXAMPLE, planted_traces
    from tests.lsp.replay import ReplayPredictor

    session = started(EXAMPLE, "count", None, ReplayPredictor(llama3_tokenizer(), planted_traces()))
    session.cont()
    session.back()
    return {"uri": "file:///tmp/example.py", "version": 3, "session": session.to_json()}


@needs_node
def test_extension_javascript_parses():
    for name in ("extension.js", "lib/core.js", "test/core.test.js"):
        subprocess.run([NODE, "--check", str(EXTENSION / name)], check=True, capture_output=True, text=True)
    manifest = json.loads((EXTENSION / "package.json").read_text())
    contributed = {c["command"] for c in manifest["contributes"]["commands"]}
    bound = {k["command"] for k in manifest["contributes"]["keybindings"]}
    assert bound <= contributed
    assert {"neurodebug.stepInto", "neurodebug.stepOver", "neurodebug.stepOut", "neurodebug.stepBack",
            "neurodebug.reset"} <= bound
    # the server's own commands are forwarded by vscode-languageclient; ours must not clash with them
    assert not contributed & {"neurodebug.predict", "neurodebug.compare", "neurodebug.step", "neurodebug.setLocal"}


@needs_node
def test_editor_free_parts_pass_node_test(tmp_path):
    payload = tmp_path / "trace.json"
    payload.write_text(json.dumps(trace_notification()))
    proc = subprocess.run([NODE, "--test", "test/"], cwd=EXTENSION, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NEURODEBUG_TRACE_JSON": str(payload)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout and "# pass 12" in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("npx") is None, reason="npm is not installed")
def test_vsce_packages_the_extension(tmp_path):
    subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=EXTENSION, check=True, capture_output=True, timeout=300)
    vsix = tmp_path / "neurodebug.vsix"
    proc = subprocess.run(["npx", "--yes", "@vscode/vsce", "package", "--out", str(vsix)], cwd=EXTENSION,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert vsix.stat().st_size > 10_000


if __name__ == "__main__":
    out = EXTENSION / "test" / "fixtures" / "trace.json"
    out.write_text(json.dumps(trace_notification(), indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)
