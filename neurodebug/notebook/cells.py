"""What a magic debugs: a source text, its entry function and the call, found in the kernel.

Nothing here runs the notebook's code: the source is assembled from the cells' text, and the real
run (neurodebug's isolated child process) is the only place where it runs.

* A function defined in the notebook: its ``def`` as its cell has it (IPython keeps each cell's
  code in ``linecache`` under the name its code objects carry), and, for every global name it
  uses, what gives that name its value: a module is imported, a function or class defined in the
  notebook is copied from its cell (and what it uses, in turn), one imported from a file is
  imported, a value with a literal repr (numbers, strings, lists, dicts, ...) is written as
  ``NAME = repr``, anything else is the latest top-level assignment of the name in the history.
* A function imported from a file: that file, as the CLI would read it.
* ``%%neurodebug``: the cell's own code, as a file.

Names in the call's arguments take their values from the kernel when those are literals
(``%neurodebug f(xs)`` debugs ``f([3, 1, 2])``).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import os
import types
from dataclasses import dataclass, field

from neurodebug.errors import UserError
from neurodebug.trace.source import read_source

#: Names IPython puts in the namespace that a program never means.
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "_", "__", "___", "_ih", "_oh", "_dh"})
#: The longest literal written into a source or a call, in characters.
MAX_LITERAL = 10_000


@dataclass(frozen=True)
class Target:
    """What a session debugs: the source, its entry function, the call (``entry(args)``, or None to
    take it from the source's ``# neurodebug:`` comment), and the file it came from (None for the
    notebook's code)."""

    source: str
    entry: str | None
    call: str | None
    path: str | None = None
    origin: str = "the notebook"  # where the source came from, in words


# -- values ------------------------------------------------------------------------------------------


_ATOMS = (int, float, complex, str, bytes, bool, type(None))
_CONTAINERS = (list, tuple, set, frozenset, dict)


def _small_literal(value, budget: list[int]) -> bool:
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if type(value) in _ATOMS:
        return not (isinstance(value, (str, bytes)) and len(value) > MAX_LITERAL)
    if type(value) is dict:
        return all(_small_literal(k, budget) and _small_literal(v, budget) for k, v in value.items())
    if type(value) in _CONTAINERS:
        return all(_small_literal(v, budget) for v in value)
    return False


def literal_repr(value) -> str | None:
    """``repr(value)`` when it reads back as the same value with ``ast.literal_eval`` (plain numbers,
    strings, bytes, None, and lists, tuples, sets and dicts of them, up to :data:`MAX_LITERAL`
    characters), else None. Only builtin types are looked at, so no user code runs."""
    if not _small_literal(value, [MAX_LITERAL]):
        return None
    text = repr(value)
    if len(text) > MAX_LITERAL:
        return None
    try:
        return text if ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # set(), frozenset(...), nan


def _kind(value) -> str:
    """'a list', 'an int', 'a DataFrame'."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


# -- the call ----------------------------------------------------------------------------------------


def parse_call(text: str, what: str = "%neurodebug") -> ast.Call:
    """The call expression ``text`` (one sentence when it is none)."""
    text = text.strip()
    if not text:
        raise UserError(f"Name the call to debug: {what} f(...), a call of a function defined in an earlier cell.")
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as e:
        raise UserError(f"{text!r} is not a Python call: {(e.msg or 'invalid syntax').rstrip('.')}.") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise UserError(f"{text!r} cannot be read as a call ({type(e).__name__}).") from None
    if not isinstance(node, ast.Call):
        raise UserError(f"{text!r} is not a call: write it as f(...).")
    return node


def _dotted(node: ast.expr) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _callee(call: ast.Call, text: str, namespace: dict):
    """(the function object the call names, how it was spelled)."""
    parts = _dotted(call.func)
    spelled = ast.get_source_segment(text, call.func) or "the callee"
    if parts is None:
        raise UserError(f"{spelled} is not the name of a function: call a function by its name, as f(...).")
    if parts[0] not in namespace:
        if hasattr(builtins, parts[0]) and len(parts) == 1:
            raise UserError(f"{parts[0]} is a built-in, not a function written in Python: debug a function of "
                            "your own that calls it.")
        raise UserError(f"There is no function {parts[0]!r} in the notebook: define it in an earlier cell (and run "
                        "that cell), or import it.")
    obj = namespace[parts[0]]
    for i, attr in enumerate(parts[1:], 1):
        if not isinstance(obj, types.ModuleType):
            raise UserError(f"{spelled} is a method, and a method cannot be the entry yet: debug a function that "
                            "calls it.")
        if not hasattr(obj, attr):
            raise UserError(f"The module {'.'.join(parts[:i])} has no function {attr!r}.")
        obj = getattr(obj, attr)
    return obj, spelled


def _function(obj, spelled: str):
    """The Python function behind ``obj`` (decorators unwrapped), or one sentence why there is none."""
    if inspect.isclass(obj):
        raise UserError(f"{spelled} is a class, not a function: a class or a method cannot be the entry yet.")
    if inspect.ismethod(obj):
        raise UserError(f"{spelled} is a method, and a method cannot be the entry yet: debug a function that calls it.")
    try:
        fn = inspect.unwrap(obj)
    except ValueError:
        fn = obj
    if not inspect.isfunction(fn):
        if callable(obj) and (inspect.isbuiltin(obj) or inspect.isroutine(obj)):
            raise UserError(f"{spelled} is a built-in, not a function written in Python: debug a function of your "
                            "own that calls it.")
        raise UserError(f"{spelled} is {_kind(obj)}, not a function.")
    if fn.__name__ == "<lambda>":
        raise UserError(f"{spelled} is a lambda: give it a def to debug it.")
    if "<locals>" in fn.__qualname__ or "." in fn.__qualname__:
        raise UserError(f"{spelled} is defined inside {fn.__qualname__.rsplit('.', 1)[0].replace('.<locals>', '')}: "
                        "only a function defined at the top of a cell or a file can be the entry.")
    return fn


def _cell_lines(fn) -> list[str]:
    """The lines of the notebook cell that defined ``fn`` ([] when it was not a cell)."""
    filename = fn.__code__.co_filename
    if getattr(fn, "__module__", None) != "__main__" or os.path.isfile(filename):
        return []
    return linecache.getlines(filename)


def call_arguments(call: ast.Call, text: str, namespace: dict, defined: set[str], needs: set[str]) -> str:
    """The text between the call's parentheses, each name the source does not define replaced by its
    value in the kernel when that is a literal; a name whose value is a function, class or module is
    added to ``needs`` (the source then gets it); anything else is one sentence."""
    text = text.strip()
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(lineno: int, col: int) -> int:  # ast columns count UTF-8 bytes
        return starts[lineno - 1] + len(lines[lineno - 1].encode()[:col].decode(errors="replace"))

    edits: list[tuple[int, int, str]] = []
    parts = [*call.args, *(k.value for k in call.keywords)]
    for part in parts:
        for node in ast.walk(part):
            if not isinstance(node, ast.Name) or node.id in defined:
                continue
            if node.id not in namespace:
                if hasattr(builtins, node.id):
                    continue
                raise UserError(f"The call uses {node.id}, which the notebook does not define.")
            value = namespace[node.id]
            literal = literal_repr(value)
            if literal is not None:
                edits.append((offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset),
                              literal))
            elif isinstance(value, (types.FunctionType, type, types.ModuleType)):
                needs.add(node.id)
            else:
                raise UserError(f"The argument {node.id} is {_kind(value)}, which the real run cannot rebuild: pass "
                                "a literal value (a number, a string, a list, a dict, ...).")
    out = text
    for start, end, literal in sorted(edits, reverse=True):
        out = out[:start] + literal + out[end:]
    func_end = offset(call.func.end_lineno, call.func.end_col_offset)  # the edits all come after it
    return out[func_end:].strip()[1:-1].strip()


# -- the notebook's source -----------------------------------------------------------------------------


def _top_level_node(tree: ast.Module, name: str, first_line: int | None = None):
    """The top-level def or class ``name`` of ``tree`` (the one starting at ``first_line`` when given,
    else the last)."""
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first_line is not None and start == first_line:
                return node
            found = node
    return found


def _node_text(lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    text = "".join(lines[start - 1:node.end_lineno])
    return text if text.endswith("\n") else text + "\n"


def _names(node: ast.AST) -> list[str]:
    """The names ``node`` reads (or declares global), in order of appearance."""
    seen: dict[str, None] = {}
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            seen[n.id] = None
        elif isinstance(n, ast.Global):
            seen.update(dict.fromkeys(n.names))
    return list(seen)


def _parse_cell(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


@dataclass
class _Assembly:
    """The parts of a notebook function's source, collected name by name."""

    namespace: dict
    history: list[str]  # the cells' code as run, oldest first
    hidden: frozenset
    imports: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    defs: dict[str, tuple[tuple, str]] = field(default_factory=dict)  # name -> (order, text)
    seen: set[str] = field(default_factory=set)

    def add_function(self, name: str, fn, lines: list[str]) -> None:
        tree = _parse_cell("".join(lines))
        node = _top_level_node(tree, fn.__name__, fn.__code__.co_firstlineno) if tree else None
        if node is None:
            raise UserError(f"The source of {name} cannot be found in the notebook's cells: run the cell that defines "
                            "it again.")
        self.defs[name] = ((self._cell_order(lines), node.lineno), _node_text(lines, node))
        self.need(_names(node))

    def _cell_order(self, lines: list[str]) -> int:
        text = "".join(lines)
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i].rstrip() == text.rstrip():
                return i
        return len(self.history)

    def need(self, names) -> None:
        for name in names:
            if name in self.seen:
                continue
            self.seen.add(name)
            self._resolve(name)

    def _resolve(self, name: str) -> None:
        ns = self.namespace
        if name not in ns:
            return  # a builtin, a local, or a name the real run will say is missing
        value = ns[name]
        if name in IPYTHON_NAMES or (name in self.hidden and not callable(value)):
            return
        if hasattr(builtins, name) and getattr(builtins, name) is value:
            return
        if isinstance(value, types.ModuleType):
            module = value.__name__
            self.imports[name] = f"import {module}\n" if module == name else f"import {module} as {name}\n"
            return
        if inspect.isfunction(value) or inspect.isclass(value):
            target = inspect.unwrap(value) if inspect.isfunction(value) else value
            module = getattr(target, "__module__", None)
            if inspect.isfunction(target) and (lines := _cell_lines(target)) and "." not in target.__qualname__:
                self.add_function(name, target, lines)
                return
            if module not in (None, "__main__") and "." not in target.__qualname__:
                alias = "" if target.__qualname__ == name else f" as {name}"
                self.imports[name] = f"from {module} import {target.__qualname__}{alias}\n"
                return
        literal = literal_repr(value)
        if literal is not None:
            self.constants[name] = f"{name} = {literal}\n"
            return
        self._from_history(name)

    def _from_history(self, name: str) -> None:
        """The latest top-level def, class or assignment of ``name`` in the cells run so far."""
        for i in range(len(self.history) - 1, -1, -1):
            tree = _parse_cell(self.history[i])
            if tree is None:
                continue
            for node in reversed(tree.body):
                if _binds(node, name):
                    lines = self.history[i].splitlines(keepends=True)
                    self.defs[name] = ((i, node.lineno), _node_text(lines, node))
                    self.need(_names(node))
                    return

    def source(self) -> str:
        parts = []
        if self.imports:
            parts.append("".join(sorted(set(self.imports.values()), key=lambda s: (s.startswith("from"), s))))
        if self.constants:
            parts.append("".join(self.constants[k] for k in sorted(self.constants)))
        defs = [text for _, text in sorted(self.defs.values(), key=lambda d: d[0])]
        parts += defs
        return "\n\n".join(p.rstrip("\n") + "\n" for p in parts)


def _binds(node: ast.stmt, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None
    return False


def from_call(text: str, namespace: dict, history: list[str] | None = None,
              hidden: frozenset = frozenset()) -> Target:
    """The Target of ``%neurodebug CALL``: the function the call names, found in ``namespace``
    (the kernel's), its source from the cells (``history``: the code of the cells run so far) or
    its file. One sentence (UserError) when there is none."""
    call = parse_call(text)
    obj, spelled = _callee(call, text.strip(), namespace)
    fn = _function(obj, spelled)
    lines = _cell_lines(fn)
    needs: set[str] = set()
    if not lines:
        path = inspect.getsourcefile(fn)
        if not path or not os.path.isfile(path):
            raise UserError(f"The source of {spelled} cannot be found: neurodebug debugs a function defined in a cell "
                            "or in a Python file.")
        source = read_source(path)
        args = call_arguments(call, text, namespace, _top_level_names(source), needs)
        if needs:
            raise UserError(f"The call passes {', '.join(sorted(needs))} from the notebook to a function of "
                            f"{os.path.basename(path)}, which the real run cannot rebuild there: pass literal values.")
        return Target(source, fn.__name__, f"{fn.__name__}({args})", path=path, origin=path)
    assembly = _Assembly(namespace, list(history or []), frozenset(hidden))
    assembly.seen.add(fn.__name__)
    assembly.add_function(fn.__name__, fn, lines)
    args = call_arguments(call, text, namespace, set(assembly.defs) | set(assembly.imports), needs)
    assembly.need(sorted(needs))
    return Target(assembly.source(), fn.__name__, f"{fn.__name__}({args})")


def _top_level_names(source: str) -> set[str]:
    tree = _parse_cell(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def from_cell(cell: str, text: str, namespace: dict) -> Target:
    """The Target of ``%%neurodebug [CALL]``: the cell's code as a file, the call's names that the
    cell does not define taking their literal values from the kernel."""
    try:
        ast.parse(cell)
    except SyntaxError as e:
        raise UserError(f"The cell has a syntax error at line {e.lineno}: {(e.msg or 'invalid syntax').rstrip('.')}.") \
            from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise UserError(f"The cell cannot be parsed ({type(e).__name__}).") from None
    if not text.strip():
        return Target(cell, None, None, origin="this cell")
    call = parse_call(text, "%%neurodebug")
    if not isinstance(call.func, ast.Name):
        spelled = ast.get_source_segment(text.strip(), call.func) or "the callee"
        raise UserError(f"{spelled} is not a function of this cell: call one of its top-level functions, as f(...).")
    entry = call.func.id
    defined = _top_level_names(cell)
    if entry not in defined:
        raise UserError(f"This cell defines no function {entry!r}.")
    needs: set[str] = set()
    args = call_arguments(call, text, namespace, defined, needs)
    if needs:
        raise UserError(f"The call passes {', '.join(sorted(needs))} from the notebook, which the cell does not "
                        "define: define it in the cell, or pass a literal value.")
    return Target(cell, entry, f"{entry}({args})", origin="this cell")
