"""What the code imports is what pyproject.toml declares.

The shipped code (neurodebug/, model/, lsp/, tui/) may import a third-party module only when its
distribution is a base dependency, or, for an optional feature (the table ``OPTIONAL``), when the
feature's extra declares it and only the feature's own files import it. `pip install .` then
brings everything the base package needs (issue 22: numpy came only through transformers, a dev
dependency, so the base package could not load the bundled model). The tests may import what the
base package and the ``dev`` extra bring (the e2e tests what the ``e2e`` extra brings too), so
that README's `pip install -e ".[dev]"` runs them all.

Imports are read with ``ast`` (inside functions too, not under ``if TYPE_CHECKING:``), with
``pytest.importorskip("x")``, ``importlib.import_module("x")`` and safetensors'
``safe_open(..., framework="numpy")`` counted as imports of ``x`` and numpy. Import names map to
distributions through ``importlib.metadata.packages_distributions()`` (a module that is not
installed is taken to be its distribution's name).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
_TOML = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYPROJECT = _TOML["project"]
PACKAGES = _TOML["tool"]["setuptools"]["packages"]
NAME = canonicalize_name(PYPROJECT["name"])
SHIPPED = ("neurodebug", "model", "lsp", "tui")
FIRST_PARTY = {*SHIPPED, "tests", "benchmarks"}

#: The optional features: a third-party top-level module -> (the extra that brings it, the shipped
#: files that may import it). Any other shipped file importing it would need the extra for a base
#: feature; tests/ may import it when the dev extra brings it.
OPTIONAL = {
    "transformers": ("hf", {"neurodebug/backends/transformers.py"}),  # --backend transformers
    "triton": ("triton", {"model/triton_attention.py", "model/triton_int8.py"}),  # the GPU kernels
    "llama_models": ("llama", {"model/tokenizer.py"}),  # CWM's vocabulary without a tokenizer file
    # the notebook front end (%load_ext neurodebug)
    "IPython": ("notebook", {"neurodebug/notebook/magics.py", "neurodebug/notebook/widget.py"}),
    "ipywidgets": ("notebook", {"neurodebug/notebook/widget.py"}),
    "matplotlib": ("plot", {"neurodebug/plot.py"}),  # eval --plot
}
#: Shipped modules that import an optional module at their top: the only modules that may fail to
#: import without the extras.
OPTIONAL_MODULES = {"neurodebug.model.triton_attention", "neurodebug.model.triton_int8",
                    "neurodebug.notebook.magics", "neurodebug.notebook.widget"}
#: Test folders that may import an extra besides dev: the e2e tests drive VS Code and JupyterLab with
#: Playwright (.ci/e2e_setup.sh and .ci/jupyter_setup.sh install it).
TEST_EXTRAS = {"tests/e2e": {"e2e"}, "tests/notebook": {"e2e"}}
#: safetensors' ``framework=`` names and the module each one loads.
SAFETENSORS_FRAMEWORKS = {"numpy": "numpy", "np": "numpy", "pt": "torch", "tf": "tensorflow", "flax": "flax",
                          "jax": "jax", "mlx": "mlx", "paddle": "paddle"}


def _files(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def _literal(node: ast.Call) -> str | None:
    arg = node.args[0] if node.args else None
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


class _Imports(ast.NodeVisitor):
    """(top-level module, line) of every import in one file."""

    def __init__(self):
        self.found: list[tuple[str, int]] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [(a.name.split(".")[0], node.lineno) for a in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.found.append((node.module.split(".")[0], node.lineno))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if name in ("importorskip", "import_module") and _literal(node):
            self.found.append((_literal(node).split(".")[0], node.lineno))
        for kw in node.keywords:
            if name == "safe_open" and kw.arg == "framework" and isinstance(kw.value, ast.Constant):
                self.found.append((SAFETENSORS_FRAMEWORKS.get(kw.value.value, kw.value.value), node.lineno))
        self.generic_visit(node)


def third_party_imports(path: Path) -> list[tuple[str, int]]:
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return [(m, n) for m, n in visitor.found if m not in sys.stdlib_module_names and m not in FIRST_PARTY]


@cache
def _module_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """The distributions that provide the top-level ``module`` (its own name when none installed does)."""
    return {canonicalize_name(d) for d in _module_distributions().get(module, [module])}


def declared(*extras: str) -> set[str]:
    """The distributions the base package and ``extras`` declare (an extra naming the project's own
    extras, as ``neurodebug[train]``, brings theirs)."""
    out: set[str] = set()
    todo, seen = list(extras), set()
    for spec in PYPROJECT["dependencies"]:
        out.add(canonicalize_name(Requirement(spec).name))
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in PYPROJECT["optional-dependencies"][extra]:
            req = Requirement(spec)
            if canonicalize_name(req.name) == NAME:
                todo += sorted(req.extras)
            else:
                out.add(canonicalize_name(req.name))
    return out


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_shipped_code_imports_only_what_its_base_dependencies_or_a_features_extra_declare():
    base = declared()
    problems = []
    for path in _files(*SHIPPED):
        for module, line in third_party_imports(path):
            where = f"{_rel(path)}:{line} imports {module}"
            if module in OPTIONAL:
                extra, files = OPTIONAL[module]
                if _rel(path) not in files:
                    problems.append(f"{where}, which only the `{extra}` extra brings (OPTIONAL lists its files)")
                elif not distributions(module) & declared(extra) - base:
                    problems.append(f"{where}: the `{extra}` extra does not declare {sorted(distributions(module))}")
            elif not distributions(module) & base:
                problems.append(f"{where}: none of {sorted(distributions(module))} is a base dependency")
    assert problems == []


def test_every_base_dependency_is_imported_by_the_shipped_code():
    used = {d for path in _files(*SHIPPED) for module, _ in third_party_imports(path) for d in distributions(module)}
    assert declared() - used == set()


def test_the_tests_import_only_what_the_dev_extra_brings():
    problems = []
    for path in _files("tests"):
        extras = {"dev"} | next((e for folder, e in TEST_EXTRAS.items() if _rel(path).startswith(folder + "/")), set())
        allowed = declared(*extras)
        for module, line in third_party_imports(path):
            if not distributions(module) & allowed:
                problems.append(f"{_rel(path)}:{line} imports {module}: {' nor '.join(sorted(extras))} declares "
                                f"none of {sorted(distributions(module))}")
    assert problems == []


BLOCKER = """
import importlib, importlib.abc, json, pkgutil, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked (an extra)")
sys.meta_path.insert(0, Block())
failed, names = {}, []
for package in json.loads(sys.argv[2]):  # the packages pyproject.toml installs (model/ as neurodebug.model, ...)
    names.append(package)
    path = importlib.import_module(package).__path__
    names += [m.name for m in pkgutil.iter_modules(path, package + ".") if not m.ispkg]
for name in names:
    if name.rsplit(".", 1)[-1] == "__main__":
        continue
    try:
        importlib.import_module(name)
    except ImportError as e:
        failed[name] = str(e)
print(json.dumps({"imported": len(names), "failed": failed}))
"""


def test_every_module_but_an_optional_features_imports_without_the_extras():
    """Every module of the installed package imports with the optional modules blocked, except the
    features' own (a base module that imported one at its top would need the extra)."""
    blocked = set(OPTIONAL) | {m for m, dists in _module_distributions().items()
                                for d in dists if canonicalize_name(d) in declared("train") - declared()}
    proc = subprocess.run([sys.executable, "-P", "-c", BLOCKER, ",".join(sorted(blocked)), json.dumps(PACKAGES)], cwd=ROOT / "tests",
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.splitlines()[-1])
    assert got["imported"] > 50 and set(got["failed"]) == OPTIONAL_MODULES, got["failed"]
