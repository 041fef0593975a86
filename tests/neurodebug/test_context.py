"""The model's context on project code (trace.context): what the entry reaches, across files,
within a budget, and every context line back on its file's line."""

from __future__ import annotations

from pathlib import Path

from neurodebug.trace.context import CALL_FILE, build
from neurodebug.trace.format import source_lines
from neurodebug.trace.source import read_source, trace_root

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "project"
CART = EXAMPLE / "shop" / "cart.py"


def context_of(path: Path, entry=None, call=None, fits=lambda text: True):
    return build(path, read_source(path), trace_root(path), entry, call, fits, read_source)


def every_line_maps_back(context) -> None:
    """Each context line of a file is that file's line, character for character."""
    lines = source_lines(context.text)
    for p in context.pieces:
        for k in range(p.count):
            file, line = context.where(p.start + k)
            assert (file, line) == (p.file, p.first + k)
            assert lines[p.start + k - 1] == context.line_text(file, line), (file, line)


def test_a_package_entry_reaches_through_its_relative_import():
    context = context_of(CART, "total_of")
    assert context.main == "shop/cart.py" and not context.is_whole_file
    # cart.py's part first, then pricing.py's, each under its header
    assert context.text.index("# file: shop/cart.py") < context.text.index("# file: shop/pricing.py")
    for reached in ("def total_of(items):", "class Cart:", "def discounted(price, quantity):",
                    "def with_tax(amount):", "TAX_RATE = 0.2", "from .pricing import discounted, with_tax"):
        assert reached in context.text, reached
    assert "def count_items" not in context.text  # total_of never uses it
    every_line_maps_back(context)
    # a line of pricing.py is found again from its file and line
    line = context.context_line("shop/pricing.py", 13)
    assert source_lines(context.text)[line - 1] == "    return round(amount * (1 + TAX_RATE), 2)"


def test_a_file_that_fits_and_reaches_no_other_file_is_given_whole(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import math\n\n\ndef f(x):\n    return g(x) + math.pi\n\n\ndef g(y):\n    return y\n")
    context = context_of(path, "f")
    assert context.is_whole_file and context.text == path.read_text()


def test_a_long_module_is_cut_down_to_what_the_entry_reaches(tmp_path):
    filler = "".join(f"def unused_{i}(a, b):\n    c = a * {i} + b\n    return c - {i}\n\n\n" for i in range(700))
    source = ("import json\n\nSCALE = 3\n\n\n" + filler + "def helper(v):\n    return v * SCALE\n\n\n"
              "def entry(n):\n    out = helper(n)\n    return json.dumps(out)\n")
    path = tmp_path / "big.py"
    path.write_text(source)
    assert len(source_lines(source)) > 3000
    context = context_of(path, "entry", fits=lambda text: len(text) < 2000)
    assert len(context.text) < 2000 and not context.left_out
    assert [p.first for p in context.pieces] == [1, 3, 3506, 3510]  # import, SCALE, helper, entry
    assert "unused_" not in context.text
    every_line_maps_back(context)


def test_over_the_budget_the_statements_reached_last_are_left_out(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def a(x):\n    return b(x)\n\n\ndef b(x):\n    return c(x)\n\n\ndef c(x):\n    return x\n")
    context = context_of(path, "a", fits=lambda text: text.count("def ") <= 2)
    assert "def a(" in context.text and "def b(" in context.text and "def c(" not in context.text
    assert context.left_out == ("m.py:c",)
    # when not even a's own code fits, leaving out what it calls would only make it wrong: all stays
    nothing_fits = context_of(path, "a", fits=lambda text: False)
    assert "def c(" in nothing_fits.text and nothing_fits.left_out == ()


def test_a_call_expression_runs_in_a_function_after_the_code(tmp_path):
    path = tmp_path / "stack.py"
    path.write_text("class Stack:\n    def push(self, x):\n        return x\n\n\nclass Unused:\n    pass\n")
    context = context_of(path, "__trace__", "Stack().push(3)")
    assert context.text.endswith("\ndef __trace__():\n    return Stack().push(3)\n")
    assert context.where(source_lines(context.text).index("    return Stack().push(3)") + 1) == (CALL_FILE, 2)
    assert context.files[CALL_FILE] == "def __trace__():\n    return Stack().push(3)\n"


def test_module_imports_are_followed_through_their_attributes(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text("def up(s):\n    return s.upper()\n\n\ndef down(s):\n    return s.lower()\n")
    (tmp_path / "app.py").write_text("import pkg.util as u\nfrom pkg import util\n\n\n"
                                     "def f(s):\n    return u.up(s) + util.down(s)\n")
    context = context_of(tmp_path / "app.py", "f")
    assert "def up(s):" in context.text and "def down(s):" in context.text
    assert "# file: pkg/util.py" in context.text
    every_line_maps_back(context)


def test_a_class_too_long_keeps_the_methods_the_code_can_call(tmp_path):
    unused = "".join(f"    def unused_{i}(self, a):\n        return a * {i} + self.total\n\n" for i in range(60))
    source = ("class Big:\n    \"\"\"A class longer than the budget.\"\"\"\n    LIMIT = 3\n\n"
              "    def __init__(self):\n        self.total = 0\n\n" + unused +
              "    def add(self, x):\n        self.total += self.clip(x)\n        return self.total\n\n"
              "    def clip(self, x):\n        return min(x, self.LIMIT)\n")
    path = tmp_path / "big.py"
    path.write_text(source)
    context = context_of(path, "__trace__", "Big().add(5)", fits=lambda text: len(text) < 1200)
    assert not context.left_out and len(context.text) < 1200
    for kept in ("class Big:", "A class longer than the budget", "LIMIT = 3", "def __init__(self):",
                 "def add(self, x):", "def clip(self, x):"):  # clip: called by add
        assert kept in context.text, kept
    assert "unused_" not in context.text
    compile(context.text, "context", "exec")  # still Python: the parser and the flow read it
    every_line_maps_back(context)
