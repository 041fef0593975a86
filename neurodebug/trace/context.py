"""What the model reads: the code an entry can reach, as one Python text, and where each of its
lines is in the project's files.

CWM's context is one Python file. A project's code is several, and often longer than a small
model's context, so the context is built here (docs/trace-format.md, "Project code in the
context"): the entry's file whole when everything fits the budget; otherwise only the top-level
statements the entry can reach, followed through the names they use and the project imports
they go through, each file's part under a ``# file: PATH`` line. A call that is an expression
(``Stack().push(3)``) runs in a one-line function added at the end (:data:`CALL_ENTRY`).

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
    """The source of :data:`CALL_ENTRY` running ``expression`` (one line: ``ast.unparse``)."""
    return f"def {CALL_ENTRY}():\n    return {expression}\n"


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

    def __init__(self, project: _Project):
        self.project = project
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
        for node in ast.walk(stmt):
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


def _write(parts: list[tuple[_Module, list[ast.stmt]]], headers: bool) -> tuple[str, list[Piece]]:
    """The context text of each module's statements, in file order, each file under its header."""
    out: list[str] = []
    pieces: list[Piece] = []
    for mod, stmts in parts:
        lines = source_lines(mod.text)
        if headers:
            if out:
                out.append("")
            out.append(FILE_HEADER.format(mod.file))
        last = None
        for stmt in sorted(stmts, key=lambda s: s.lineno):
            first, end = _span(stmt)
            if last is not None and first > last + 1:
                out.append("")  # the left-out lines between two statements
            pieces.append(Piece(mod.file, first, len(out) + 1, end - first + 1))
            out.extend(lines[first - 1:end])
            last = end
    return "\n".join(out) + "\n", pieces


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
    are left out, one at a time, never the entry's own (``Context.left_out`` names them).
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
    reach = _Reach(project)
    first = _starts(main, entry, call)
    reach.use_names(main, first)
    must = max(1, len(reach.order))  # the entry's own statements (and what its names import)
    order = reach.run([])
    if not any(mod is not main for mod, _ in order):
        whole = whole_file(source, main.file, call)
        if fits(whole.text):
            return whole
    keep = list(order)
    left: list[str] = []
    while True:
        context = _context_of(keep, main, call)
        if fits(context.text) or len(keep) <= must:
            break
        mod, stmt = keep.pop()
        left.append(f"{mod.file}:{', '.join(_bound_names(stmt)) or stmt.lineno}")
    return replace(context, left_out=tuple(reversed(left)))


def _context_of(keep: list[tuple[_Module, ast.stmt]], main: _Module, call: str | None) -> Context:
    by_file: dict[Path, tuple[_Module, list[ast.stmt]]] = {main.path: (main, [])}
    for mod, stmt in keep:
        by_file.setdefault(mod.path, (mod, []))[1].append(stmt)
    parts = [(m, s) for m, s in by_file.values() if s or m is main]
    text, pieces = _write(parts, headers=len(parts) > 1)
    files: dict[str | None, str] = {m.file: m.text for m, _ in parts}
    if call is not None:
        text, pieces = _append_call(text, pieces, call)
        files[CALL_FILE] = call_function(call)
    return Context(text, tuple(pieces), files, main.file)
