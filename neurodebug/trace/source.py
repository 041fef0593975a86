"""Where things are in a traced file: its lines, the entry function, the call, the functions by line.

Every layer that reads a user's file (the tracer, the codec, the session, the language server)
finds the entry function and resolves the call here, so they agree on what a file means.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import os
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

from neurodebug.errors import UserError
from neurodebug.trace.context import CALL_ENTRY
from neurodebug.trace.format import START_OF_TRACE_RE, source_lines
from neurodebug.trace.frames import Frame

_DEF_RE = re.compile(r"^\s*(?:async\s+)?def\s+([^\W\d]\w*)\s*\(")
#: A ``# neurodebug: f(...)`` comment above a def gives the call to trace when none is passed.
CALL_COMMENT_RE = re.compile(r"^\s*#\s*neurodebug:\s*(.+?)\s*$")
#: A PEP 263 coding line (as the tokenizer matches it), in bytes.
_CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")



# -- user errors that become a Trace end ---------------------------------------------------------


class NoSuchFunction(UserError):
    """The entry function is missing (End reason 'no_such_function')."""


class BadCall(UserError):
    """The call expression is not usable (End reason 'bad_call')."""


# -- entry and call --------------------------------------------------------------------------------


def find_entry(source: str) -> str | None:
    """The function whose ``def`` line carries ``# << START_OF_TRACE``; else the one top-level
    function with a ``# neurodebug: f(...)`` comment above it; else None."""
    lines = source_lines(source)
    commented = []
    for i, text in enumerate(lines):
        m = _DEF_RE.match(text)
        if m and START_OF_TRACE_RE.search(text):
            return m.group(1)
        if m and not text[:1].isspace() and _call_comment_above(lines, i) is not None:
            commented.append(m.group(1))
    return commented[0] if len(commented) == 1 else None


def find_call_comment(source: str, entry: str) -> str | None:
    """The call written as ``# neurodebug: f(...)`` in the comment lines right above ``def entry``."""
    lines = source_lines(source)
    for i, text in enumerate(lines):
        m = _DEF_RE.match(text)
        if m and m.group(1) == entry:
            return _call_comment_above(lines, i)
    return None


def _call_comment_above(lines: list[str], index: int) -> str | None:
    """The ``# neurodebug:`` call in the comment and decorator lines right above ``lines[index]``."""
    j = index - 1
    while j >= 0 and lines[j].lstrip().startswith(("@", "#")):
        c = CALL_COMMENT_RE.match(lines[j])
        if c:
            return c.group(1)
        j -= 1
    return None


def _top_level_functions(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _top_level_classes(source: str) -> list[str]:
    """Names of the classes defined at the top of ``source``, in order ([] when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.ClassDef)]


def _and(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def no_entry_sentence(source: str, name: str | None = None) -> str:
    """Why no entry function was found, in one sentence: a source without top-level functions says
    so (naming its classes, whose methods cannot be entries yet); else how to name the entry."""
    try:
        defined = _top_level_functions(ast.parse(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        defined = {m.group(1) for m in map(_DEF_RE.match, source_lines(source)) if m and m.group(0)[0] != " "}
    if not defined:
        classes = _top_level_classes(source)
        who = name or "The source"
        if not classes:
            return f"{who} defines no top-level function to trace."
        kind = "class" if len(classes) == 1 else "classes"
        return (f"{who} defines no top-level function to trace, only the {kind} {_and(classes)}: "
                f"call a method, as in --call \"{classes[0]}().method(...)\".")
    return ("No entry function given: pass --entry NAME, call it as --call \"f(...)\", "
            "or mark its def line with '# << START_OF_TRACE'.")


def _parse_call(text: str) -> ast.Call | None:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return node if isinstance(node, ast.Call) else None


def _args_text(text: str, call: ast.Call) -> str:
    """The text between the parentheses of a call expression."""
    text = text.strip()
    lines = text.split("\n")
    # offset of the end of the callee (AST columns are UTF-8 byte offsets)
    line = lines[call.func.end_lineno - 1].encode()[: call.func.end_col_offset].decode(errors="replace")
    end = sum(len(s) + 1 for s in lines[: call.func.end_lineno - 1]) + len(line)
    inner = text[end:].strip()
    return inner[1:-1].strip()  # drop "(" and ")"


def expression_call(source: str, call: str | None) -> str | None:
    """``call`` as one line when it is an expression on the file's definitions to run as it is
    (a method of an instance ``Stack().push(3)``, a constructor ``Account('bob')``, a class
    method ``Parser.from_text('a=1').parse()``) rather than a call of one of its top-level
    functions or an argument list; else None. It runs in :data:`context.CALL_ENTRY`."""
    node = _parse_call(call) if call and call.strip() else None
    if node is None:
        return None
    func = node.func
    if isinstance(func, ast.Name) and func.id not in _top_level_classes(source):
        return None
    return ast.unparse(node)


def _undefined_base(source: str, expression: str) -> str | None:
    """The name a call expression's chain starts from (``Nope`` in ``Nope().x()``) when neither
    the top level of ``source`` binds it nor is it a built-in; None when it is defined (or the
    source does not parse: the run says why)."""
    node = _parse_call(expression)
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    if not isinstance(node, ast.Name) or hasattr(builtins, node.id):
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    bound = {n.id for stmt in tree.body for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
             and not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
    return None if node.id in bound or any(a.name == "*" for s in tree.body if isinstance(s, ast.ImportFrom)
                                          for a in s.names) else node.id


def example_call(source: str, entry: str | None) -> str:
    """How to call ``entry`` on the command line: ``Stack().push(...)`` for a method of a top-level
    class, ``f(...)`` for a function (the sentences that ask for a call show it)."""
    name = (entry or "f").rsplit(".", 1)[-1]
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return f"{name}(...)"
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and m.name == name for m in node.body):
            return f"{node.name}().{name}(...)"
    return f"{name}(...)"


def method_call_comment(source: str) -> str | None:
    """The call expression of the one ``# neurodebug: Stack().push(3)`` comment above a method."""
    lines = source_lines(source)
    found = [c for i, text in enumerate(lines) if _DEF_RE.match(text) and text[:1].isspace()
             and (c := _call_comment_above(lines, i)) is not None and expression_call(source, c)]
    return expression_call(source, found[0]) if len(found) == 1 else None


def resolve_call(source: str, entry: str | None, call: str | None, name: str | None = None) -> tuple[str, str]:
    """(entry, argument expression) for a run; (:data:`context.CALL_ENTRY`, the expression) for a
    call that is an expression to run as it is (:func:`expression_call`).

    ``call`` is an argument expression (``"'strawberry', 'r'"``) or a call expression
    (``"f('strawberry', 'r')"``). It counts as a call expression when it calls the given
    entry by name, or, with no entry given, a function defined at the top of ``source``.
    Without an entry the ``# << START_OF_TRACE`` marker names it. Without a call, the
    ``# neurodebug: f(...)`` comment above the entry's def gives it, else no arguments.
    Raises NoSuchFunction / BadCall (both UserError) with one sentence; ``name`` (the file's
    name) is how a sentence names the source.
    """
    expression = expression_call(source, call)
    if expression is not None and (entry in (None, CALL_ENTRY) or "." in entry):  # "Stack.push" names a method
        undefined = _undefined_base(source, expression)
        if undefined:
            raise NoSuchFunction(f"The call {expression} starts from {undefined!r}, which {name or 'the file'} "
                                 "does not define at its top level.")
        return CALL_ENTRY, expression
    if entry is None and (call is None or not call.strip()) and find_entry(source) is None \
            and (expression := method_call_comment(source)) is not None:
        return CALL_ENTRY, expression
    node = _parse_call(call) if call and call.strip() else None
    callee = node.func.id if node is not None and isinstance(node.func, ast.Name) else None
    if entry is None:
        try:
            defined = _top_level_functions(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            defined = {m.group(1) for m in map(_DEF_RE.match, source_lines(source)) if m and m.group(0)[0] != " "}
        if callee is not None and callee in defined:
            entry = callee
        elif callee is not None and not hasattr(builtins, callee):
            # `--call "g(1)"` names a function; treating it as f's argument would only confuse
            raise NoSuchFunction(f"There is no function {callee!r} at the top level of the file.")
        else:
            entry = find_entry(source)
        if entry is None:
            raise NoSuchFunction(no_entry_sentence(source, name))
    if call is None or not call.strip():
        call = find_call_comment(source, entry) or ""
        node = _parse_call(call) if call.strip() else None
        callee = node.func.id if node is not None and isinstance(node.func, ast.Name) else None
    if callee == entry:
        args = _args_text(call, node)
    else:
        args = call.strip()
        check = _parse_call(f"_({args})")
        if check is None or not isinstance(check.func, ast.Name) or check.func.id != "_":
            raise BadCall(f"The call {call.strip()!r} is neither an argument list nor a call of {entry}(...).")
    why = _mismatch_in(source, entry, args)
    if why and not call.strip():
        fixtures = _fixture_sentence(source, entry)
        if fixtures:
            raise BadCall(fixtures)
        raise BadCall(f"No call given for {why.split(' does not fit ', 1)[1].split(':')[0]}: pass --call "
                      f"\"{entry}(...)\" or put a '# neurodebug: {entry}(...)' comment above its def.")
    if why:
        raise BadCall(why)
    return entry, args


def fixture_parameters(node) -> list[str]:
    """The parameters that pytest would fill with fixtures, when ``node`` is a test function
    (named ``test...``): those without a default value; else []."""
    if node is None or not node.name.startswith("test"):
        return []
    return [p.name for p in signature(node).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _fixture_sentence(source: str, entry: str) -> str | None:
    """The sentence for a pytest test function that takes fixtures and was given no call, or None."""
    try:
        names = fixture_parameters(find_def(ast.parse(source), entry))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if not names:
        return None
    what = f"the fixture {names[0]}" if len(names) == 1 else f"the fixtures {_and(names)}"
    example = ", ".join(f"{n}=..." for n in names)
    return (f"{entry} takes {what}: neurodebug cannot provide pytest fixtures, so give --call "
            f"\"{entry}({example})\" with a value for {'it' if len(names) == 1 else 'each'}.")


def _mismatch_in(source: str, entry: str, args: str) -> str | None:
    try:
        node = find_def(ast.parse(source), entry)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # the run says what is wrong with the source
    return call_mismatch(node, args) if node is not None else None


def call_mismatch(node, args: str) -> str | None:
    """Why ``args`` cannot bind to the parameters of the function ``node`` (one sentence naming its
    signature), or None when they can or only running would tell (``*xs``, ``**kw``)."""
    try:
        call = ast.parse(f"_({args})", mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    names = [k.arg for k in call.keywords]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated:
        return f"The call {node.name}({args}) gives the keyword argument {repeated!r} twice."
    try:
        signature(node).bind(*range(len(call.args)), **{k.arg: 0 for k in call.keywords})
    except TypeError as e:
        return f"The call {node.name}({args}) does not fit {node.name}({ast.unparse(node.args)}): {e}."
    return None



# -- functions by line ----------------------------------------------------------------------


class Layout:
    """Functions of the source by line, from its AST (empty when the source does not parse)."""

    def __init__(self, source: str, n_lines: int):
        self.n = n_lines
        self.defs: dict[int, tuple[str, int, int]] = {}  # def/decorator line -> (name, lo, hi)
        self.functions: list[tuple[str, int, int]] = []  # (name, lo, hi), outer before inner
        self.def_lines: dict[str, int] = {}  # dotted name ("C.m", "f") -> def line
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return
        self._walk(tree, "")

    def _walk(self, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            dotted = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lo = min([child.lineno] + [d.lineno for d in child.decorator_list])
                hi = child.end_lineno or child.lineno
                entry = (child.name, lo, hi)
                self.functions.append(entry)
                for line in range(lo, child.lineno + 1):
                    self.defs.setdefault(line, entry)
                dotted = f"{prefix}{child.name}"
                self.def_lines.setdefault(dotted, child.lineno)
                dotted += "."
            elif isinstance(child, ast.ClassDef):
                dotted = f"{prefix}{child.name}."
            self._walk(child, dotted)

    def def_line(self, entry: str) -> int | None:
        return self.def_lines.get(entry) or next(
            (ln for name, ln in self.def_lines.items() if name.rsplit(".", 1)[-1] == entry), None
        )

    def enclosing(self, line: int) -> tuple[str, int, int] | None:
        best = None
        for f in self.functions:
            if f[1] <= line <= f[2] and (best is None or f[1] >= best[1]):
                best = f
        return best

    def func_of(self, line: int) -> str | None:
        f = self.enclosing(line)
        return f[0] if f else None


# -- comprehensions, which run inline on Python 3.12+ ---------------------------------------------

#: Whether this Python runs list/set/dict comprehensions inline in the enclosing frame (PEP 709).
INLINE_COMPREHENSIONS = sys.version_info >= (3, 12)


def comprehension_spans(source: str) -> tuple:
    """((start, end, iter_start, iter_end), ...) of every list/set/dict comprehension in source, as
    (line, column) pairs; the iterable of the first ``for`` is evaluated outside the comprehension."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ()
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp)):
            it = node.generators[0].iter
            spans.append(((node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset),
                          (it.lineno, it.col_offset), (it.end_lineno, it.end_col_offset)))
    return tuple(spans)


def comprehension_names(source: str) -> frozenset:
    """Names bound by the ``for`` targets of list/set/dict comprehensions in source."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset()
    return frozenset(n.id for node in ast.walk(tree) if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp))
                     for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name))


def offsets_in_spans(code, spans) -> frozenset:
    """Byte offsets of code's instructions that run inside an inlined comprehension's loop.

    Python evaluates a comprehension's first iterable before the comprehension starts; after that,
    every instruction placed in the comprehension's span (its iterable's span included: the loop's
    GET_ITER, FOR_ITER and END_FOR sit there) belongs to the loop."""
    positions = list(code.co_positions())
    inside = set()
    for start, end, it_start, it_end in spans:
        begun = False
        for i, (line, _end_line, col, _end_col) in enumerate(positions):
            if line is None or col is None:
                continue
            pos = (line, col)
            if not start <= pos < end:
                continue
            if not begun and it_start <= pos < it_end:
                continue  # the first iterable, evaluated before the comprehension
            begun = True
            inside.add(2 * i)
    return frozenset(inside)


# -- the project a file belongs to ---------------------------------------------------------------

#: Files that mark a project's root folder (as pytest finds its rootdir).
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


@dataclass(frozen=True)
class Project:
    """Where a file sits in its project, for a real run (see :func:`project_of`)."""

    root: str | None  # the nearest folder up with a PROJECT_MARKERS file, else the package's base
    base: str | None  # the folder above the file's package (its top ``__init__.py`` folder), or None
    module: str | None  # the file's dotted module name in its package ("pkg.core"), or None
    is_package: bool = False  # the file is a package's ``__init__.py``

    def sys_path(self, file_dir: str) -> list[str]:
        """The folders that go first on sys.path in the run: a package module's project root and
        package base; a lone file's own folder, then its project root."""
        first = [self.root, self.base] if self.module else [file_dir, self.root]
        return list(dict.fromkeys(d for d in first if d))


def _package_chain(folder: Path) -> list[str]:
    """The names of the package folders from ``folder`` up (innermost first): each holds an
    ``__init__.py`` and is named like a Python identifier."""
    names = []
    while (folder / "__init__.py").is_file() and folder.name.isidentifier() and folder.parent != folder:
        names.append(folder.name)
        folder = folder.parent
    return names


def project_of(path) -> Project:
    """The project of the Python file at ``path``: a module inside a package (its folder holds an
    ``__init__.py``) runs as part of it, under its dotted name, with the project root first on
    sys.path (so relative imports and imports of the project's packages work from any working
    directory); a lone file runs as a script does, its project root (if any) after its folder."""
    file = Path(os.path.abspath(path))
    stem = file.stem if file.suffix == ".py" else file.name
    root = next((str(d) for d in file.parents if any((d / m).exists() for m in PROJECT_MARKERS)), None)
    chain = _package_chain(file.parent)
    if not chain or not stem.isidentifier():
        return Project(root, None, None)
    base = file.parents[len(chain)]
    names = list(reversed(chain)) + ([] if stem == "__init__" else [stem])
    return Project(root or str(base), str(base), ".".join(names), stem == "__init__")


def trace_root(path) -> str:
    """The folder a real run's frames and the model's context name files from: the file's
    project root, else its own folder."""
    return project_of(path).root or os.path.dirname(os.path.abspath(path))


# -- the entry's signature and its arguments as literals -------------------------------------------------------


def read_source(path) -> str:
    """The text of a Python file, decoded as Python reads it (PEP 263: a UTF-8 byte-order mark or a
    ``# -*- coding: NAME -*-`` line, else UTF-8); a bad path or text raises UserError with one sentence."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"There is no file {str(path)!r}.")
    if p.is_dir():
        raise UserError(f"{str(path)!r} is a directory, not a Python file.")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise UserError(f"Cannot read {str(path)!r}: {e.strerror or e}.") from None
    return decode_source(raw, repr(str(path)))


def decode_source(raw: bytes, name: str = "The source") -> str:
    """``raw`` decoded as Python decodes a source file (``tokenize.detect_encoding``: a byte-order
    mark, a PEP 263 coding line, else UTF-8); the byte-order mark is dropped and newlines are kept
    as they are. Text it cannot decode raises UserError naming ``name``."""
    try:
        encoding, first = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as e:
        msg = e.msg or ""
        if msg.startswith("unknown encoding"):
            declared = msg.split(":", 1)[-1].strip()
            raise UserError(f"{name} declares the encoding {declared!r} in its coding line, which Python "
                            "does not know.") from None
        if msg.startswith("encoding problem"):
            raise UserError(f"{name} starts with a UTF-8 byte-order mark but its coding line declares "
                            "another encoding.") from None
        raise UserError(f"{name} is not UTF-8 text, and no '# -*- coding: NAME -*-' line declares another "
                        "encoding.") from None
    declared = any(_CODING_RE.match(line) for line in first)
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        if declared and encoding not in ("utf-8", "utf-8-sig"):
            raise UserError(f"{name} is not valid {encoding} text, the encoding its coding line declares.") from None
        raise UserError(f"{name} is not UTF-8 text, and no '# -*- coding: NAME -*-' line declares another "
                        "encoding.") from None


def resolve_target(path, entry: str | None) -> tuple[str, str | None]:
    """(entry, argument expression from its ``# neurodebug:`` comment, "" when it takes no
    arguments, else None) of a file; a bad path or entry raises UserError, as a Session would."""
    return resolve_entry(read_source(path), entry, None, Path(path).name)


def resolve_entry(source: str, entry: str | None, call: str | None,
                  name: str | None = None) -> tuple[str, str | None]:
    """(entry, argument expression or None) from what the user gave; UserError on bad input, whose
    sentence names the source as ``name`` (the file's name) when given."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise UserError(f"The source has a syntax error at line {e.lineno}: {(e.msg or 'invalid syntax').rstrip('.')}.") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise UserError(f"The source cannot be parsed ({type(e).__name__}).") from None
    if call is not None and call.strip():
        entry, args = resolve_call(source, entry, call, name)  # raises UserError subclasses
    elif entry is None and find_entry(source) is None and (expression := method_call_comment(source)):
        return CALL_ENTRY, expression
    else:
        entry = entry or find_entry(source)
        if entry is None:
            raise UserError(no_entry_sentence(source, name))
        args = find_call_comment(source, entry)
        if args is not None:
            entry, args = resolve_call(source, entry, args, name)
        elif call is not None:
            args = ""  # an explicit empty call: no arguments
    if entry == CALL_ENTRY:
        return entry, args
    node = find_def(tree, entry)
    if node is None:
        raise UserError(f"There is no function {entry!r} in the source.")
    if args is None and not has_parameters(node):
        args = ""  # nothing for the model to propose
    if args is None and fixture_parameters(node):
        raise BadCall(_fixture_sentence(source, entry))  # a model cannot propose fixtures either
    return entry, args


def find_def(tree: ast.AST, entry: str):
    name = entry.rsplit(".", 1)[-1]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def has_parameters(node) -> bool:
    a = node.args
    return bool(a.posonlyargs or a.args or a.vararg or a.kwonlyargs or a.kwarg)


class NotLiteral:
    pass


def signature(node) -> inspect.Signature:
    """The entry's signature from its AST; a default that is not a literal becomes NotLiteral."""
    P = inspect.Parameter

    def default(d):
        if d is None:
            return P.empty
        try:
            return ast.literal_eval(d)
        except Exception:
            return NotLiteral()

    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = []
    for i, (arg, d) in enumerate(zip(positional, defaults)):
        kind = P.POSITIONAL_ONLY if i < len(a.posonlyargs) else P.POSITIONAL_OR_KEYWORD
        params.append(P(arg.arg, kind, default=default(d)))
    if a.vararg:
        params.append(P(a.vararg.arg, P.VAR_POSITIONAL))
    for arg, d in zip(a.kwonlyargs, a.kw_defaults):
        params.append(P(arg.arg, P.KEYWORD_ONLY, default=default(d)))
    if a.kwarg:
        params.append(P(a.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)


def literal_arguments(node, args: str | None) -> dict | None:
    """name -> value of the call's arguments bound to the entry's parameters, when all are literals."""
    if node is None or args is None:
        return None
    try:
        call = ast.parse(f"_({args})", mode="eval").body
        pos = [ast.literal_eval(a) for a in call.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        bound = signature(node).bind(*pos, **kw)
    except Exception:
        return None
    bound.apply_defaults()
    if any(isinstance(v, NotLiteral) for v in bound.arguments.values()):
        return None
    return dict(bound.arguments)


def call_expression(node, frame: Frame) -> str | None:
    """An argument expression from a call frame's locals, when every value is a Python literal."""
    if node is None or frame.malformed:
        return None
    sig = signature(node)
    pos, kw = [], []
    for name, p in sig.parameters.items():
        if name not in frame.locals:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is not p.empty:
                continue
            return None
        text = frame.locals[name]
        try:
            value = ast.literal_eval(text)
        except Exception:
            return None
        if p.kind == p.VAR_POSITIONAL:
            if not isinstance(value, tuple):
                return None
            pos += [repr(v) for v in value]
        elif p.kind == p.VAR_KEYWORD:
            if not isinstance(value, dict) or not all(isinstance(k, str) and k.isidentifier() for k in value):
                return None
            kw += [f"{k}={v!r}" for k, v in value.items()]
        elif p.kind == p.KEYWORD_ONLY:
            kw.append(f"{name}={text}")
        else:
            pos.append(text)
    return ", ".join(pos + kw)


# -- the functions a file offers to debug, each with its call ------------------------------------


@dataclass(frozen=True)
class Function:
    name: str
    line: int  # 1-based line of the ``def``
    end_line: int  # 1-based last line of the body
    first_line: int  # 1-based line of the first decorator (== line without decorators)
    call: str | None  # the call found in the source, None when there is none
    origin: str | None  # 'comment' | 'doctest' | None


def functions(source: str) -> list[Function]:
    """Module-level functions of ``source`` and the methods of its top-level classes (named
    ``Class.method``), in order; [] when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source_lines(source)
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(_function(node, lines, node.name, _doctest_call(node)))
        elif isinstance(node, ast.ClassDef):
            found += [_function(m, lines, f"{node.name}.{m.name}", _test_method_call(node, m)) for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return found


def _function(node, lines: list[str], name: str, fallback: str | None) -> Function:
    """A Function with the call its ``# neurodebug:`` comment gives, else ``fallback`` (a doctest's
    call, a test method's own call)."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    call, origin = _call_comment_above(lines, node.lineno - 1), "comment"
    if call is None:
        call, origin = fallback, ("test" if fallback and "." in name else "doctest")
    return Function(name, node.lineno, node.end_lineno or node.lineno, first, call, origin if call else None)


def _test_method_call(cls: ast.ClassDef, node) -> str | None:
    """``TestCart().test_total()`` for a pytest-style test method that takes only ``self``."""
    params = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    if cls.name.startswith("Test") and node.name.startswith("test") and len(params) == 1 \
            and not node.args.vararg and not node.args.kwarg:
        return f"{cls.name}().{node.name}()"
    return None


def call_for(source: str, name: str, explicit: str | None = None) -> str | None:
    """The call to trace ``name`` with: ``explicit`` when given, else the source's, else None."""
    if explicit is not None and explicit.strip():
        return explicit.strip()
    for f in functions(source):
        if f.name == name:
            return f.call
    return None


def function_at(source: str, line: int) -> Function | None:
    """The module-level function whose lines (decorators included) contain 1-based ``line``."""
    for f in functions(source):
        if f.first_line <= line <= f.end_line:
            return f
    return None


def _doctest_call(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """The first doctest example of the docstring that is a call of the function itself."""
    doc = ast.get_docstring(node, clean=True)
    for example in _examples(doc or ""):
        if _calls(example, node.name):
            return ast.unparse(ast.parse(example, mode="eval"))
    return None


def _examples(doc: str):
    """Each ``>>>`` example of a docstring, its ``...`` continuation lines joined."""
    current: list[str] | None = None
    for raw in doc.splitlines():
        text = raw.strip()
        if text.startswith(">>>"):
            if current is not None:
                yield "\n".join(current)
            current = [text[3:].lstrip()]
        elif current is not None and text.startswith("..."):
            current.append(text[3:].lstrip())
        elif current is not None:
            yield "\n".join(current)
            current = None
    if current is not None:
        yield "\n".join(current)


def _calls(code: str, name: str) -> bool:
    """True when ``code`` is one expression calling ``name`` (possibly multi-line)."""
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return False
    body = tree.body
    return isinstance(body, ast.Call) and isinstance(body.func, ast.Name) and body.func.id == name
