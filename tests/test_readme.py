"""The README is short, its links lead somewhere, and its Python example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.subprocesses import neurodebug_env

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def test_the_readme_is_read_in_a_minute():
    assert len(README.read_bytes()) <= 12_000


def test_every_relative_link_of_the_docs_leads_to_a_file():
    pages = [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_python_example_runs_as_written(tmp_path):
    block = re.search(r"## From Python\s+```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    out = subprocess.run([sys.executable, "-c", block], cwd=ROOT, env=neurodebug_env(), capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert "Frame(event='call'" in out.stdout
