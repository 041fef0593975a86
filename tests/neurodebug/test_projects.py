"""Real runs of files inside projects (#23): a module of a package runs as part of its package
(its dotted name, its relative imports, the project root first on sys.path) from any working
directory; a pytest-style test function is an entry; its fixtures are one sentence.

The example project is examples/project (the package `shop`, its tests in tests/). Every run here
is a real run in the child process, isolated where bubblewrap can start (the default, auto).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurodebug.cli import main
from neurodebug.errors import UserError
from neurodebug.real.tracer import trace_file
from neurodebug.trace.source import project_of, resolve_entry
from tests.subprocesses import ROOT, neurodebug_env

PROJECT = ROOT / "examples" / "project"
CART = PROJECT / "shop" / "cart.py"
TESTS = PROJECT / "tests" / "test_cart.py"
FIXTURE_SENTENCE = ('test_with_fixture takes the fixture cart: neurodebug cannot provide pytest fixtures, so give '
                    '--call "test_with_fixture(cart=...)" with a value for it.')


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def funcs(trace) -> list[str]:
    return [f.func for f in trace.frames]


# -- where a file sits in its project ----------------------------------------------------------


def test_project_of_a_package_module_a_test_file_and_a_lone_file(tmp_path):
    p = project_of(CART)
    assert (p.root, p.base, p.module, p.is_package) == (str(PROJECT), str(PROJECT), "shop.cart", False)
    assert p.sys_path(str(CART.parent)) == [str(PROJECT)]
    init = project_of(PROJECT / "shop" / "__init__.py")
    assert (init.module, init.is_package) == ("shop", True)
    t = project_of(TESTS)  # tests/ has no __init__.py: a lone file of the project
    assert (t.root, t.module) == (str(PROJECT), None)
    assert t.sys_path(str(TESTS.parent)) == [str(TESTS.parent), str(PROJECT)]
    (tmp_path / "lone.py").write_text("def f():\n    return 1\n")
    lone = project_of(tmp_path / "lone.py")
    assert (lone.root, lone.module) == (None, None) and lone.sys_path(str(tmp_path)) == [str(tmp_path)]
    # without a marker file the root is the folder above the top package; src layout: both on sys.path
    write(tmp_path, {"a/pkg/__init__.py": "", "a/pkg/sub/__init__.py": "", "a/pkg/sub/m.py": "",
                     "b/pyproject.toml": "", "b/src/lib/__init__.py": "", "b/src/lib/m.py": ""})
    deep = project_of(tmp_path / "a" / "pkg" / "sub" / "m.py")
    assert (deep.root, deep.module) == (str(tmp_path / "a"), "pkg.sub.m")
    src = project_of(tmp_path / "b" / "src" / "lib" / "m.py")
    assert src.module == "lib.m" and src.sys_path("") == [str(tmp_path / "b"), str(tmp_path / "b" / "src")]


# -- a package's module, from another working directory -----------------------------------------


def test_package_module_with_relative_imports_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trace = trace_file(os.path.relpath(CART, tmp_path), "total_of", 'total_of([("milk", 1.25, 2)])')
    assert trace.end.reason == "returned" and trace.end.value == "3.0", trace.end.message
    # the entry file's frames are recorded, methods of its class included, and pricing.py's too
    assert funcs(trace)[:2] == ["total_of", "total_of"] and {"__init__", "add", "subtotal", "total"} <= set(funcs(trace))
    files = {f.func: f.file for f in trace.frames}
    assert files["total_of"] == "shop/cart.py" and files["with_tax"] == "shop/pricing.py", files
    # the package's __init__ ran at import time, before the trace: none of its frames
    assert {f.file for f in trace.frames} == {"shop/cart.py", "shop/pricing.py"}
    # an instance of a class without __repr__ shows its attributes, not an address
    assert trace.frames[3].locals["self"].startswith("Cart("), trace.frames[3].locals


def test_package_in_tmp_imports_its_relatives_and_is_named_by_dotted_name(tmp_path, monkeypatch):
    write(tmp_path / "proj", {
        "setup.cfg": "",
        "pkg/__init__.py": "",
        "pkg/util.py": "def up(s):\n    return s.upper()\n",
        "pkg/core.py": ("from .util import up\nfrom . import util\n\n\n"
                        "def normalize(words):\n    out = [up(w) for w in words]\n    return out, __name__, util.__name__\n"),
    })
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    trace = trace_file(tmp_path / "proj" / "pkg" / "core.py", None, "normalize(['a'])")
    assert trace.end.reason == "returned", trace.end.message
    assert trace.end.value == "(['A'], 'pkg.core', 'pkg.util')"


def test_the_cli_traces_a_package_module_from_another_directory(tmp_path):
    p = subprocess.run([sys.executable, "-m", "neurodebug", "trace", str(CART), "--call", "count_items([('a', 1, 3)])",
                        "--json"], capture_output=True, text=True, cwd=tmp_path, env=neurodebug_env(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["end"]["message"] == "count_items([('a', 1, 3)]) returned 3."


def test_a_package_whose_init_raises_is_one_sentence(tmp_path):
    write(tmp_path, {
        "pyproject.toml": "[project]\nname = 'broken'\n",
        "broken/__init__.py": "import os\n\nraise RuntimeError('no config')\n",
        "broken/core.py": "def f():\n    return 1\n",
    })
    trace = trace_file(tmp_path / "broken" / "core.py", "f", "")
    assert trace.end.reason == "import_error"
    assert trace.end.message == ("Running the module broken.core raised RuntimeError('no config') in "
                                 "broken/__init__.py at line 3.")


def test_a_failing_relative_import_is_one_sentence(tmp_path):
    write(tmp_path, {"pkg/__init__.py": "", "pkg/core.py": "from .missing import x\n\n\ndef f():\n    return x\n"})
    trace = trace_file(tmp_path / "pkg" / "core.py", "f", "")
    assert trace.end.reason == "import_error"
    assert trace.end.message == "Running the module pkg.core raised ModuleNotFoundError(\"No module named 'pkg.missing'\") at line 1."


def test_the_module_is_run_from_the_source_sent_once_even_when_its_package_imports_it(tmp_path):
    write(tmp_path, {
        "pkg/__init__.py": "from .core import f\n",
        "pkg/core.py": "import builtins\nbuiltins.RUNS = getattr(builtins, 'RUNS', 0) + 1\n\n\ndef f():\n    return builtins.RUNS\n",
    })
    trace = trace_file(tmp_path / "pkg" / "core.py", "f", "")
    assert trace.end.value == "1", trace.end.message


def test_a_lone_file_still_runs_as_a_script(tmp_path):
    write(tmp_path, {"helper.py": "K = 7\n", "lone.py": "import helper\n\n\ndef f():\n    return helper.K, __name__\n"})
    trace = trace_file(tmp_path / "lone.py", "f", "")
    assert trace.end.reason == "returned" and trace.end.value == "(7, 'lone')", trace.end.message


# -- test functions as entries ------------------------------------------------------------------


def test_a_test_function_without_parameters_is_an_entry_without_a_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trace = trace_file(TESTS, "test_total", None)
    assert trace.end.reason == "returned" and trace.end.message == "test_total() returned None.", trace.end.message
    tests = [f for f in trace.frames if f.file == "tests/test_cart.py"]
    assert funcs(trace)[:2] == ["test_total", "test_total"] and {f.func for f in tests} == {"test_total"}
    assert {f.func for f in trace.frames if f.file == "shop/cart.py"} >= {"__init__", "add", "subtotal", "total"}
    assert trace.frames[-1].line == 14 and trace.frames[-1].file == "tests/test_cart.py"
    failing = trace_file(TESTS, "test_bad_quantity", None)  # pytest.raises works in the child
    assert failing.end.reason == "returned", failing.end.message


def test_a_test_function_that_takes_fixtures_is_one_sentence(tmp_path):
    trace = trace_file(TESTS, "test_with_fixture", None)
    assert trace.end.reason == "bad_call" and trace.end.message == FIXTURE_SENTENCE
    with pytest.raises(UserError) as e:  # the session's resolution says the same
        resolve_entry(TESTS.read_text(), "test_with_fixture", None, "test_cart.py")
    assert str(e.value) == FIXTURE_SENTENCE
    two = "def test_x(a, b, c=1):\n    pass\n"
    (tmp_path / "test_two.py").write_text(two)
    msg = trace_file(tmp_path / "test_two.py", "test_x", None).end.message
    assert msg == ('test_x takes the fixtures a and b: neurodebug cannot provide pytest fixtures, so give --call '
                   '"test_x(a=..., b=...)" with a value for each.')
    # given values, it runs
    from neurodebug.trace.source import resolve_call
    assert resolve_call(two, "test_x", "test_x(1, 2)") == ("test_x", "1, 2")


def test_the_cli_runs_a_test_function_and_says_the_fixture_sentence(tmp_path):
    def cli(*argv):
        return subprocess.run([sys.executable, "-m", "neurodebug", "trace", str(TESTS), *argv, "--json"],
                              capture_output=True, text=True, cwd=tmp_path, env=neurodebug_env(), timeout=120)

    ok = cli("--entry", "test_total_of")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["end"]["message"] == "test_total_of() returned None."
    bad = cli("--entry", "test_with_fixture")
    assert bad.returncode == 2 and bad.stderr.strip() == f"neurodebug: {FIXTURE_SENTENCE}"


# -- compare, end to end on the bundled model ------------------------------------------------------


def test_compare_on_a_package_function_with_the_bundled_model(tmp_path, monkeypatch, capsys):
    from neurodebug.backends import BUNDLED_DIR

    if not (Path(BUNDLED_DIR) / "config.json").exists():
        pytest.skip("the bundled model is not installed")
    monkeypatch.chdir(tmp_path)  # the session gets a relative path, from another folder
    rc = main(["compare", os.path.relpath(CART, tmp_path), "--call", "count_items([('a', 1, 3)])", "--json",
               "--max-frame-tokens", "8", "--max-frames", "12"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    result = json.loads(out)
    assert result["entry"] == "count_items" and result["call"] == "[('a', 1, 3)]"
    assert result["real_end"]["reason"] == "returned" and result["real_end"]["value"] == "3", result["real_end"]
    assert result["rows"] and result["rows"][0]["real"]["line"] == 34, result["rows"][0]
