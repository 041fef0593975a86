"""What the model reads: the code an entry can reach, as one Python text, and where each of its
lines is in the project's files.

CWM's context is one Python file. A project's code is several, and often longer than a small
model's context, so the context is built here (docs/trace-format.md, "Project code in the
context"): the entry's file whole when everything fits the budget; otherwise only the top-level
statements the entry can reach, followed through the names they use and the project imports
they go through, each file's part under a ``# file: PATH`` line. A call that is an expression
(``Stack().push(3)``) runs in a one-line function added at the end (:data:`CALL_ENTRY`); the
corpus's call sequences on one object (``s = Stack(); s.push(3); s.pop()``) run there one
statement a line (:func:`call_function`).

Everything that reads a predicted frame (the parser, the flow constraint) works on the context's
lines; :meth:`Context.place` turns them into the real file and line, which is all the user sees.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from neurodebug.trace.format import source_lines
from neurodebug.trace.frames import Frame

#: The function a call expression runs in, in the real run and in the context alike.
CALL_ENTRY = "__trace__"
#: The ``file`` of its frames (it is in no file of the project).
CALL_FILE = "<call>"
#: The share of the model's context that the code may take: the rest is left for the frames.
CONTEXT_SHARE = 0.5
#: The line before each file's part of a context made of several files.
FILE_HEADER = "# file: {}"


def call_text(entry: str, call: str | None, unknown: str = "?") -> str:
    """A call as the user reads it: a call expression as written, else ``entry(arguments)``, with
    ``unknown`` for arguments the model is to propose."""
    if entry == CALL_ENTRY and call:
        return call
    return f"{entry}({call if call is not None else unknown})"


def call_function(expression: str) -> str:
    """The source of :data:`CALL_ENTRY` running ``expression`` (one line: ``ast.unparse``).

    A sequence of statements on one object (``s = Stack(); s.push(3); s.pop()``, the corpus's call
    sequences) runs one statement a line and returns the value of its last expression."""
    statements = call_statements(expression)
    if statements is None:
        return f"def {CALL_ENTRY}():\n    return {expression}\n"
    *head, last = statements
    return f"def {CALL_ENTRY}():\n" + "".join(f"    {s}\n" for s in head) + f"    return {last}\n"


def call_statements(call: str) -> list[str] | None:
    """The statements of a call written as several, ending with an expression, each as
    ``ast.unparse`` writes it (the last one's expression alone); None for one expression, and for
    a text that is neither (the caller reports it as it always has)."""
    try:
        ast.parse(call, mode="eval")
        return None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    try:
        body = ast.parse(call).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(body) < 2 or not isinstance(body[-1], ast.Expr):
        return None
    return [ast.unparse(s) for s in body[:-1]] + [ast.unparse(body[-1].value)]


@dataclass(frozen=True)
class Piece:
    """Consecutive context lines ``start .. start + count - 1``, which are lines ``first ..`` of ``file``."""

    file: str | None
    first: int
    start: int
    count: int


@dataclass
class Context:
    """The context text, its pieces, and the text of every file it names."""

    text: str
    pieces: tuple[Piece, ...]
    files: dict[str | None, str] = field(default_factory=dict)
    main: str | None = None  # the entry's file
    left_out: tuple[str, ...] = ()  # top-level names the budget left out, as "file:name"

    @property
    def is_whole_file(self) -> bool:
        """True when the context is the entry's file as it is: its lines are the file's lines."""
        return len(self.pieces) == 1 and self.pieces[0].start == 1 and self.pieces[0].first == 1 \
            and self.pieces[0].file == self.main and self.text == self.files.get(self.main)

    def where(self, line: int | None) -> tuple[str | None, int | None]:
        """(file, line in it) of context line ``line``; (main, None) for a line of no file."""
        if line is not None:
            for p in self.pieces:
                if p.start <= line < p.start + p.count:
                    return p.file, p.first + line - p.start
        return self.main, None

    def context_line(self, file: str | None, line: int | None) -> int | None:
        """The context line showing ``line`` of ``file``, or None when the context leaves it out."""
        for p in self.pieces:
            if p.file == file and line is not None and p.first <= line < p.first + p.count:
                return p.start + line - p.first
        return None

    def place(self, frame: Frame) -> Frame:
        """``frame`` (read on the context's lines) on its real file and line."""
        file, line = self.where(frame.line)
        return replace(frame, file=file, line=line)

    def line_text(self, file: str | None, line: int | None) -> str:
        """The text of ``line`` of ``file`` ('' when unknown)."""
        lines = source_lines(self.files.get(file, ""))
        return lines[line - 1] if line and 0 < line <= len(lines) else ""


def whole_file(source: str, file: str | None, call: str | None = None) -> Context:
    """The context of a file given whole (plus the call function, for a call expression)."""
    n = len(source_lines(source))
    pieces = [Piece(file, 1, 1, n)]
    files = {file: source}
    text = source
    if call is not None:
        text, pieces = _append_call(text, pieces, call)
        files[CALL_FILE] = call_function(call)
    return Context(text, tuple(pieces), files, file)


def _append_call(text: str, pieces: list[Piece], call: str) -> tuple[str, list[Piece]]:
    body = call_function(call)
    if text and not text.endswith("\n"):
        text += "\n"
    text += "\n"  # a blank line of no file before it
    start = text.count("\n") + 1
    return text + body, pieces + [Piece(CALL_FILE, 1, start, body.count("\n"))]


# -- reaching: the top-level statements an entry uses, across the project's files ------------------


@dataclass
class _Module:
    file: str  # relative to the root, '/'-separated
    path: Path
    text: str
    tree: ast.Module
    names: dict[str, ast.stmt]  # top-level name -> the statement that binds it


def _bound_names(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"]
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


class _Project:
    """The project's Python files, read and parsed once each."""

    def __init__(self, root: Path, read: Callable[[Path], str]):
        self.root, self.read = root, read
        self.modules: dict[Path, _Module | None] = {}

    def module(self, path: Path) -> _Module | None:
        path = path.resolve()
        if path not in self.modules:
            self.modules[path] = self._load(path)
        return self.modules[path]

    def _load(self, path: Path) -> _Module | None:
        try:
            rel = path.relative_to(self.root).as_posix()
            text = self.read(path)
            tree = ast.parse(text)
        except (ValueError, OSError, SyntaxError, RecursionError, MemoryError, UnicodeError):
            return None
        except Exception:  # noqa: BLE001 - a file the reader refuses (UserError) is left out
            return None
        names: dict[str, ast.stmt] = {}
        for stmt in tree.body:
            for name in _bound_names(stmt):
                names.setdefault(name, stmt)
        return _Module(rel, path, text, tree, names)

    def find(self, dotted: str, here: Path, level: int) -> Path | None:
        """The file of module ``dotted`` imported from the file ``here`` (``level`` dots)."""
        if level:
            base = here.parent
            for _ in range(level - 1):
                base = base.parent
            bases = [base]
        else:
            bases = [self.root, here.parent]
        parts = [p for p in dotted.split(".") if p]
        for base in bases:
            candidate = base.joinpath(*parts)
            for path in (candidate.with_suffix(".py") if parts else None, candidate / "__init__.py"):
                if path is not None and path.is_file() and self._inside(path):
                    return path
        return None

    def _inside(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.root)
        except ValueError:
            return False
        return not any(part in ("site-packages", "dist-packages") or part.startswith(".") for part in rel.parts)


class _Reach:
    """Walks from the entry's statements through every name they use, in order of reach."""

    def __init__(self, project: _Project, methods: frozenset[str] | None = None):
        self.project = project
        self.methods = methods  # with a set: a class is followed through those methods only
        self.order: list[tuple[_Module, ast.stmt]] = []
        self.seen: set[tuple[Path, int]] = set()

    def add(self, mod: _Module, stmt: ast.stmt) -> None:
        key = (mod.path, id(stmt))
        if key in self.seen:
            return
        self.seen.add(key)
        self.order.append((mod, stmt))

    def run(self, starts: list[tuple[_Module, ast.stmt]]) -> list[tuple[_Module, ast.stmt]]:
        for mod, stmt in starts:
            self.add(mod, stmt)
        i = 0
        while i < len(self.order):
            mod, stmt = self.order[i]
            self._follow(mod, stmt)
            i += 1
        return self.order

    def _follow(self, mod: _Module, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return  # an import is followed from the names that use it (_use)
        for node in (n for part in _kept_parts(stmt, self.methods) for n in ast.walk(part)):
            if isinstance(node, ast.Name):
                self._use(mod, node.id, ())
            elif isinstance(node, ast.Attribute):
                chain = _attribute_chain(node)
                if chain:
                    self._use(mod, chain[0], chain[1:])

    def use_names(self, mod: _Module, names: list[tuple[str, tuple[str, ...]]]) -> None:
        for name, attrs in names:
            self._use(mod, name, attrs)

    def _use(self, mod: _Module, name: str, attrs: tuple[str, ...]) -> None:
        stmt = mod.names.get(name)
        if stmt is None:
            return
        self.add(mod, stmt)
        if isinstance(stmt, ast.ImportFrom):
            self._from_import(mod, stmt, name, attrs)
        elif isinstance(stmt, ast.Import):
            self._import(mod, stmt, name, attrs)

    def _from_import(self, mod: _Module, stmt: ast.ImportFrom, name: str, attrs: tuple[str, ...]) -> None:
        alias = next(a for a in stmt.names if (a.asname or a.name) == name)
        source = self.project.find(stmt.module or "", mod.path, stmt.level)
        sub = self.project.find(f"{stmt.module or ''}.{alias.name}", mod.path, stmt.level)
        if sub is not None and (target := self.project.module(sub)) is not None:
            if attrs:  # `from pkg import mod` then `mod.f`
                self._use(target, attrs[0], attrs[1:])
            return
        if source is not None and (target := self.project.module(source)) is not None:
            self._use(target, alias.name, attrs)

    def _import(self, mod: _Module, stmt: ast.Import, name: str, attrs: tuple[str, ...]) -> None:
        for alias in stmt.names:
            if (alias.asname or alias.name.split(".")[0]) != name:
                continue
            dotted = alias.name if alias.asname else ".".join([alias.name.split(".")[0], *attrs])
            parts = dotted.split(".")
            # the longest prefix of the chain that is a module of the project, then the name in it
            for k in range(len(parts), 0, -1):
                path = self.project.find(".".join(parts[:k]), mod.path, 0)
                rest = parts[k:] if not alias.asname else list(attrs)
                if path is not None and (target := self.project.module(path)) is not None:
                    if rest:
                        self._use(target, rest[0], tuple(rest[1:]))
                    return


def _attribute_chain(node: ast.Attribute) -> tuple[str, ...]:
    """``a.b.c`` -> ('a', 'b', 'c'); () when the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ()
    return (node.id, *reversed(parts))


# -- writing the context ---------------------------------------------------------------------------


def _span(stmt: ast.stmt) -> tuple[int, int]:
    """The lines of a statement, its decorators included."""
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return first, stmt.end_lineno or stmt.lineno


def _write(parts: list[tuple[_Module, list[ast.stmt]]], headers: bool,
           methods: frozenset[str] | None = None) -> tuple[str, list[Piece]]:
    """The context text of each module's statements, in file order, each file under its header;
    with ``methods``, a class keeps only those of its methods (and its other statements)."""
    out: list[str] = []
    pieces: list[Piece] = []
    for mod, stmts in parts:
        lines = source_lines(mod.text)
        if headers:
            if out:
                out.append("")
            out.append(FILE_HEADER.format(mod.file))
        last = None
        for first, end in sorted(span for stmt in stmts for span in _spans(stmt, methods)):
            if last is not None and first > last + 1:
                out.append("")  # the left-out lines between two statements
            pieces.append(Piece(mod.file, first, len(out) + 1, end - first + 1))
            out.extend(lines[first - 1:end])
            last = end
    return "\n".join(out) + "\n", pieces


#: Methods a class keeps however it is cut: Python calls them when it makes or reads an instance.
ALWAYS = frozenset({"__init__", "__new__", "__post_init__", "__init_subclass__", "__set_name__", "__call__",
                    "__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__class_getitem__"})
#: The special methods that the syntax and the built-in functions call (``a[i]``, ``len(a)``, ...).
_SYNTAX = {
    ast.Subscript: ("__getitem__", "__setitem__", "__delitem__"),
    ast.For: ("__iter__", "__next__"), ast.comprehension: ("__iter__", "__next__"),
    ast.With: ("__enter__", "__exit__"), ast.In: ("__contains__",), ast.NotIn: ("__contains__",),
    ast.Eq: ("__eq__",), ast.NotEq: ("__ne__", "__eq__"), ast.Lt: ("__lt__",), ast.LtE: ("__le__",),
    ast.Gt: ("__gt__",), ast.GtE: ("__ge__",), ast.Not: ("__bool__", "__len__"), ast.If: ("__bool__", "__len__"),
    ast.While: ("__bool__", "__len__"), ast.BoolOp: ("__bool__", "__len__"),
}
_OPERATORS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
              ast.Mod: "mod", ast.Pow: "pow", ast.BitOr: "or", ast.BitAnd: "and", ast.BitXor: "xor",
              ast.LShift: "lshift", ast.RShift: "rshift", ast.MatMult: "matmul"}
_BUILTINS = {"len": ("__len__",), "iter": ("__iter__",), "next": ("__next__",), "reversed": ("__reversed__",),
             "hash": ("__hash__",), "bool": ("__bool__", "__len__"), "abs": ("__abs__",), "list": ("__iter__", "__len__"),
             "tuple": ("__iter__", "__len__"), "set": ("__iter__", "__hash__", "__eq__"), "sorted": ("__iter__", "__lt__"),
             "dict": ("__iter__", "keys", "__getitem__"), "sum": ("__iter__", "__add__", "__radd__"),
             "min": ("__iter__", "__lt__"), "max": ("__iter__", "__gt__", "__lt__"), "int": ("__int__", "__index__"),
             "float": ("__float__",), "str": ("__str__",), "format": ("__format__",), "copy": ("__copy__",),
             "deepcopy": ("__deepcopy__",), "isinstance": ("__instancecheck__",), "getattr": ("__getattr__",)}


def _special_methods(node: ast.AST) -> set[str]:
    """The special methods the syntax and the built-in calls in ``node`` can call."""
    out: set[str] = set()
    for n in ast.walk(node):
        out.update(_SYNTAX.get(type(n), ()))
        op = getattr(n, "op", None)
        if isinstance(n, (ast.BinOp, ast.AugAssign)) and type(op) in _OPERATORS:
            name = _OPERATORS[type(op)]
            out.update((f"__{name}__", f"__r{name}__", f"__i{name}__"))
        if isinstance(n, ast.UnaryOp) and isinstance(op, ast.USub):
            out.add("__neg__")
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            out.update(_BUILTINS.get(n.func.id, ()))
    return out


def _spans(stmt: ast.stmt, methods: frozenset[str] | None) -> list[tuple[int, int]]:
    """The line spans of a statement: whole, or for a class cut to ``methods``, its header and the
    body statements that are not other methods."""
    if methods is None or not isinstance(stmt, ast.ClassDef) or stmt.body[0].lineno == stmt.lineno:
        return [_span(stmt)]
    body = [b for b in stmt.body if not _is_function(b) or b.name in methods or b.name in ALWAYS]
    body = body or stmt.body[:1]  # a class needs a body
    header = (_span(stmt)[0], _span(stmt.body[0])[0] - 1)
    return [header] + [_span(b) for b in body]


def _kept_parts(stmt: ast.stmt, methods: frozenset[str] | None) -> list[ast.AST]:
    """What of a statement the context keeps: all of it, or of a class cut to ``methods`` its
    bases, decorators and the body statements _spans keeps."""
    if methods is None or not isinstance(stmt, ast.ClassDef):
        return [stmt]
    body = [b for b in stmt.body if not _is_function(b) or b.name in methods or b.name in ALWAYS]
    return [*stmt.bases, *stmt.keywords, *stmt.decorator_list, *(body or stmt.body[:1])]


def _is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


def used_methods(statements: list[ast.stmt], call: str | None) -> frozenset[str]:
    """The attribute names the code can call as methods: those named in the statements reached
    and in the call expression, followed into the methods of the same names (to a fixpoint)."""
    def attributes(node: ast.AST) -> set[str]:
        return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}

    methods = {m.name: m for stmt in statements if isinstance(stmt, ast.ClassDef) for m in stmt.body if _is_function(m)}
    outside = [stmt for stmt in statements if not isinstance(stmt, ast.ClassDef)]
    outside += [b for stmt in statements if isinstance(stmt, ast.ClassDef) for b in stmt.body if not _is_function(b)]
    # the syntax of code outside the classes may use their special methods (a[i], len(a)); inside
    # a method it is mostly on other values (ints, lists): there only what it names counts
    used = set().union(*(attributes(n) | _special_methods(n) for n in outside)) if outside else set()
    used |= attributes(ast.parse(call, mode="eval")) | _special_methods(ast.parse(call, mode="eval")) if call else set()
    used |= ALWAYS
    todo = [name for name in used if name in methods]
    while todo:
        for name in attributes(methods[todo.pop()]) - used:
            used.add(name)
            if name in methods:
                todo.append(name)
    return frozenset(used)


def _reach(project: _Project, main: _Module, first, methods: frozenset[str] | None = None,
           follow: bool = True) -> list[tuple[_Module, ast.stmt]]:
    """The statements reached from the names ``first`` (classes through ``methods`` only, when
    given); without ``follow``, only those the names themselves bind (and the imports they use)."""
    reach = _Reach(project, methods)
    reach.use_names(main, first)
    return reach.run([]) if follow else list(reach.order)


def _starts(main: _Module, entry: str | None, call: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """The names the entry begins with: the call expression's, or the entry's own (a method's class)."""
    if call is not None:
        tree = ast.parse(call, mode="eval")
        names = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                names.append((node.id, ()))
            elif isinstance(node, ast.Attribute) and (chain := _attribute_chain(node)):
                names.append((chain[0], chain[1:]))
        return names
    return [(entry.split(".")[0], ())] if entry else []


def build(path: str | os.PathLike, source: str, root: str | os.PathLike, entry: str | None,
          call: str | None, fits: Callable[[str], bool], read: Callable[[Path], str]) -> Context:
    """The context of ``entry`` (or of the call expression ``call``) in the file ``path``.

    The file is given whole when it and the other files' reached statements fit (``fits`` says
    whether a context text is within the budget) and no other file is reached; otherwise the
    reached statements of every file. When they do not fit either, the statements reached last
    are left out, one at a time, never the entry's own (``Context.left_out`` names them); first,
    a class keeps only the methods the code can call (:func:`used_methods`). When even the entry's
    own code is over the budget, nothing is left out (what it needs would be missing for nothing).
    """
    root = Path(root).resolve()
    project = _Project(root, read)
    main_path = Path(path).resolve()
    main = project.module(main_path)
    main_file = main.file if main is not None else main_path.name
    if main is None:
        return whole_file(source, main_file, call)
    main = replace(main, text=source)
    project.modules[main_path] = main
    first = _starts(main, entry, call)
    order = _reach(project, main, first)
    must = max(1, len(_reach(project, main, first, frozenset(), follow=False)))  # the entry's own statements
    if not any(mod is not main for mod, _ in order):
        whole = whole_file(source, main.file, call)
        if fits(whole.text):
            return whole
    keep = list(order)
    context = _context_of(keep, main, call)
    if fits(context.text):
        return context
    # too long: the classes keep only the methods the code can call, then statements go
    methods = used_methods([stmt for _, stmt in keep], call)
    keep = _reach(project, main, first, methods)  # what the kept methods reach, not the others
    full = _context_of(keep, main, call, methods)
    for n in range(len(keep), must - 1, -1):
        context = _context_of(keep[:n], main, call, methods)
        if fits(context.text):
            left = [f"{mod.file}:{', '.join(_bound_names(stmt)) or stmt.lineno}" for mod, stmt in keep[n:]]
            return replace(context, left_out=tuple(left))
    return full  # even the entry's own code is over the budget: leaving out what it needs would not help


def _context_of(keep: list[tuple[_Module, ast.stmt]], main: _Module, call: str | None,
                methods: frozenset[str] | None = None) -> Context:
    by_file: dict[Path, tuple[_Module, list[ast.stmt]]] = {main.path: (main, [])}
    for mod, stmt in keep:
        by_file.setdefault(mod.path, (mod, []))[1].append(stmt)
    parts = [(m, s) for m, s in by_file.values() if s or m is main]
    text, pieces = _write(parts, headers=len(parts) > 1, methods=methods)
    files: dict[str | None, str] = {m.file: m.text for m, _ in parts}
    if call is not None:
        text, pieces = _append_call(text, pieces, call)
        files[CALL_FILE] = call_function(call)
    return Context(text, tuple(pieces), files, main.file)
