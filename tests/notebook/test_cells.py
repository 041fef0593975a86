"""What a magic debugs: the source assembled from the cells (nothing of it runs), the entry, the call."""

from __future__ import annotations

import ast

import pytest

from neurodebug.errors import UserError
from neurodebug.notebook import cells
from tests.notebook.cells import Notebook

FACT = "def fact(n):\n    if n <= 1:\n        return 1\n    return n * fact(n - 1)\n"


def test_a_cell_function_is_its_def_as_the_cell_has_it_and_nothing_else_of_the_cell():
    nb = Notebook().run("print('side effect')\n" + FACT + "fact(3)\n")
    t = cells.from_call("fact(4)", nb.ns, nb.history)
    assert (t.source, t.entry, t.call, t.path) == (FACT, "fact", "fact(4)", None)


def test_what_the_function_uses_comes_with_it():
    nb = Notebook()
    nb.run("import math\nimport os.path as osp\nfrom collections import Counter as C\nLIMIT = 2\nWORDS = ['a', 'b']\n")
    nb.run("import re\nPAT = re.compile('a+')\n")
    nb.run("def helper(x):\n    return x - 1\n\nunused = 5\n")
    nb.run("@staticmethod\ndef never_called():\n    pass\n")
    nb.run("def f(n):\n    # uses everything\n    if n < LIMIT:\n        return C(WORDS)\n"
           "    return math.floor(helper(n)) + len(osp.sep) + len(PAT.pattern)\n")
    t = cells.from_call("f(3)", nb.ns, nb.history)
    assert t.source == (
        "import math\nimport posixpath as osp\nimport re\nfrom collections import Counter as C\n\n\n"
        "LIMIT = 2\nWORDS = ['a', 'b']\n\n\n"
        "PAT = re.compile('a+')\n\n\n"  # no literal: its assignment, from the cell
        "def helper(x):\n    return x - 1\n\n\n"
        "def f(n):\n    # uses everything\n    if n < LIMIT:\n        return C(WORDS)\n"
        "    return math.floor(helper(n)) + len(osp.sep) + len(PAT.pattern)\n")
    ast.parse(t.source)


def test_the_latest_definition_wins():
    nb = Notebook().run("def g(x):\n    return 1\n").run("def g(x):\n    return 2\n").run("def f(x):\n    return g(x)\n")
    src = cells.from_call("f(1)", nb.ns, nb.history).source
    assert "return 2" in src and "return 1" not in src


def test_the_calls_names_take_their_literal_values_from_the_kernel():
    nb = Notebook().run("xs = [3, 1, 2]\nname = 'a b'\n" + FACT + "def apply(g, x):\n    return g(x)\n")
    assert cells.from_call("fact(len(xs))", nb.ns, nb.history).call == "fact(len([3, 1, 2]))"
    t = cells.from_call("apply(fact, n=xs[0])", nb.ns, nb.history)
    assert t.call == "apply(fact, n=[3, 1, 2][0])" and "def fact" in t.source  # a function argument comes along


def test_a_function_imported_from_a_file_is_that_file(tmp_path):
    (tmp_path / "mod_nb_test.py").write_text("def double(x):\n    return 2 * x\n")
    nb = Notebook()
    nb.ns["double"] = _load(tmp_path / "mod_nb_test.py").double
    t = cells.from_call("double(2)", nb.ns, nb.history)
    assert (t.source, t.entry, t.call, t.path) == ("def double(x):\n    return 2 * x\n", "double", "double(2)",
                                                   str(tmp_path / "mod_nb_test.py"))
    nb.ns["mod"] = _load(tmp_path / "mod_nb_test.py")
    assert cells.from_call("mod.double(2)", nb.ns, nb.history).entry == "double"


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("call, sentence", [
    ("", "Name the call to debug: %neurodebug f(...), a call of a function defined in an earlier cell."),
    ("fact(", "'fact(' is not a Python call: '(' was never closed."),
    ("fact", "'fact' is not a call: write it as f(...)."),
    ("nothere(1)", "There is no function 'nothere' in the notebook: define it in an earlier cell (and run that "
                   "cell), or import it."),
    ("len([])", "len is a built-in, not a function written in Python: debug a function of your own that calls it."),
    ("K(1)", "K is a class, not a function: a class or a method cannot be the entry yet."),
    ("K().m(1)", "K().m is not the name of a function: call a function by its name, as f(...)."),
    ("k.m(1)", "k.m is a method, and a method cannot be the entry yet: debug a function that calls it."),
    ("sq(2)", "sq is a lambda: give it a def to debug it."),
    ("inner(2)", "inner is defined inside outer: only a function defined at the top of a cell or a file can be "
                 "the entry."),
    ("seven(2)", "seven is an int, not a function."),
    ("fact(y)", "The call uses y, which the notebook does not define."),
    ("fact(k)", "The argument k is a K, which the real run cannot rebuild: pass a literal value (a number, a "
                "string, a list, a dict, ...)."),
])
def test_what_cannot_be_debugged_is_one_sentence(call, sentence):
    nb = Notebook().run(FACT + "class K:\n    def m(self, x):\n        return x\n\nk = K()\nsq = lambda x: x * x\n"
                        "def outer():\n    def inner(x):\n        return x\n    return inner\n\n"
                        "inner = outer()\nseven = 7\n")
    with pytest.raises(UserError) as e:
        cells.from_call(call, nb.ns, nb.history)
    assert str(e.value) == sentence


def test_the_cell_magic_debugs_the_cells_own_code():
    cell = "def g(x):\n    y = x + 1\n    return y\n"
    nb = Notebook().run("v = 41\n")
    assert cells.from_cell(cell, "g(v)", nb.ns) == cells.Target(cell, "g", "g(41)", origin="this cell")
    assert cells.from_cell(cell, "", nb.ns) == cells.Target(cell, None, None, origin="this cell")


@pytest.mark.parametrize("cell, call, sentence", [
    ("def g(x:\n    return x\n", "g(1)", "The cell has a syntax error at line 1: '(' was never closed."),
    ("def g(x):\n    return x\n", "h(1)", "This cell defines no function 'h'."),
    ("def g(x):\n    return x\n", "m.g(1)", "m.g is not a function of this cell: call one of its top-level "
                                              "functions, as f(...)."),
    ("def g(x):\n    return x\n", "g(fact)", "The call passes fact from the notebook, which the cell does not "
                                               "define: define it in the cell, or pass a literal value."),
])
def test_a_bad_cell_is_one_sentence(cell, call, sentence):
    nb = Notebook().run(FACT)
    with pytest.raises(UserError) as e:
        cells.from_cell(cell, call, nb.ns)
    assert str(e.value) == sentence


@pytest.mark.parametrize("value, literal", [
    (3, "3"), ("a'b", '"a\'b"'), ([1, (2, None)], "[1, (2, None)]"), ({"a": {1, 2}}, "{'a': {1, 2}}"),
    (set(), "set()"), (float("nan"), None), (object(), None), (list(range(20_000)), None), ("x" * 20_000, None),
])
def test_only_literals_are_written_as_values(value, literal):
    assert cells.literal_repr(value) == literal
