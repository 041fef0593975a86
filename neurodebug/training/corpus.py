"""A CWM-style training corpus: real functions from pip-installable packages and the standard library,
run on generated inputs by the real tracer.

    neurodebug corpus --out DIR [--packages ...] [--heldout ...] [--builtins N] [--jobs J]

CWM's trace data came from running real functions of real repositories on generated inputs; this
is the same recipe on code anyone can reproduce from the package registries (the ``train`` extra):

1. programs (:func:`extract_programs`): every top-level function of a module becomes a small
   self-contained program: the function, the same-module functions and constants it reaches, and
   the standard-library imports they use. A function that needs anything else (a class, a
   relative import, a third-party module) is skipped, as are generators and decorated functions.
2. inputs (:func:`candidate_inputs`): the calls in its doctest examples first, then values of the
   types its hints, defaults, doctest values or parameter names suggest: mutations of the doctest
   values, then random ones (sizes, edge cases, strings with mixed case and punctuation).
3. filter (:func:`useful`): an input is kept only if the real run ends within the limits (a return,
   or an exception the function raises on purpose), does no I/O (an audit hook in the traced child
   ends it on any file, socket, process or sleep event), writes nothing, gives the same trace twice,
   shows no memory address or hash-ordered set of strings, and gives a trace of a useful length.
4. built-in types (:func:`builtin_programs`): generated functions that call every public method of
   ``str``, ``list``, ``dict``, ``set`` and ``tuple``, slicing and the common built-in functions with
   varied arguments, with calls into a helper of the same file and caught exceptions.
5. project code (``--kinds method sequence multi-file test``, :func:`module_rows`): classes entered
   as ``Class(...).method(...)``, one instance through two or three method calls in the call
   function (``s = Stack(); s.push(3); s.pop()``), package functions that reach their other modules
   (on the multi-file context of :func:`neurodebug.trace.context.build`), and test functions around
   kept runs.

Every record carries its provenance (package, version, license, module, function). The split is by
package: the ``--heldout`` packages never reach the training file and become the suite
``real_heldout.jsonl`` (the record format of ``neurodebug eval``). One function in
``CALIBRATION_EVERY`` of the other packages (:func:`in_calibration`) is kept out as well and
becomes ``calibration.jsonl``, the training-side suite the confidence's calibration is fitted on.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import doctest
import functools
import importlib
import importlib.metadata
import inspect
import json
import keyword
import os
import random
import re
import shutil
import sys
import tempfile
import textwrap
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

#: Packages of the corpus: import name -> (distribution on PyPI, modules whose functions are used).
#: Pure Python, small functions, permissive licenses (docs/corpus.md lists them).
PACKAGES = {
    "algorithms": ("algorithms", None),  # None: every module of the package
    "more_itertools": ("more-itertools", ["more_itertools.more", "more_itertools.recipes"]),
    "toolz": ("toolz", ["toolz.itertoolz", "toolz.dicttoolz", "toolz.functoolz"]),
    "boltons": ("boltons", ["boltons.strutils", "boltons.iterutils", "boltons.mathutils", "boltons.listutils",
                            "boltons.dictutils", "boltons.setutils", "boltons.timeutils", "boltons.formatutils"]),
    "pydash": ("pydash", ["pydash.strings", "pydash.arrays", "pydash.numerical", "pydash.predicates"]),
    "inflection": ("inflection", ["inflection"]),
    "string_utils": ("python-string-utils", ["string_utils.manipulation", "string_utils.validation",
                                              "string_utils.generation"]),
    # the calibration packages (CALIBRATION_PACKAGES)
    "stringcase": ("stringcase", ["stringcase"]),
    "humps": ("pyhumps", ["humps.main"]),
    "funcy": ("funcy", ["funcy.strings", "funcy.colls", "funcy.seqs"]),
    "base58": ("base58", ["base58"]),
    "base62": ("pybase62", ["base62"]),
    "bech32": ("bech32", ["bech32"]),
    "luhn": ("luhn", ["luhn"]),
    "natsort": ("natsort", ["natsort.utils", "natsort.natsort"]),
    "word2number": ("word2number", ["word2number.w2n"]),
}
#: Pure-Python standard-library modules (license: the PSF License).
STDLIB = ["textwrap", "fnmatch", "colorsys", "statistics", "fractions", "shlex", "calendar", "difflib", "heapq",
          "bisect", "string", "html", "keyword", "base64", "quopri", "glob", "posixpath", "urllib.parse",
          "json.encoder", "json.decoder", "email.utils", "email.quoprimime", "email.header", "tokenize", "netrc",
          "reprlib", "graphlib", "locale", "operator", "gettext", "_pydecimal", "ipaddress", "textwrap", "csv",
          "pprint", "copy", "numbers", "codecs", "encodings.punycode", "encodings.idna", "stringprep"]
#: Kinds of trace a build can make (``--kinds``); the default is the build the bundled model's
#: corpus came from. The others are project code (section 5).
KINDS = ("function", "builtins", "method", "sequence", "multi-file", "test")
DEFAULT_KINDS = ("function", "builtins")
#: Packages held out of training by default: they form ``real_heldout.jsonl``.
HELDOUT = ["inflection", "boltons", "string_utils"]
#: One function (or class) in this many of the training packages, chosen by its name's hash, is
#: kept out of training too: the calibration split (``calibration.jsonl``), on which the
#: confidence's calibration map is fitted (docs/confidence.md), real code no model here trained on.
CALIBRATION_EVERY = 10
#: Whole packages that are neither trained on nor in an evaluation suite: their functions and
#: methods form ``calibration_packages.jsonl``, the check of a calibration map on packages no
#: model here read (as the suites' are), small string and encoding utilities where the
#: calibration split is mostly ``algorithms`` (docs/confidence.md).
CALIBRATION_PACKAGES = ["stringcase", "humps", "funcy", "base58", "base62", "bech32", "luhn", "natsort", "word2number"]

#: Modules a program may not import: I/O, processes, clocks, randomness, the interpreter itself.
BANNED_IMPORTS = {"os", "sys", "io", "subprocess", "socket", "shutil", "tempfile", "pathlib", "random", "time",
                  "threading", "multiprocessing", "asyncio", "logging", "warnings", "signal", "ctypes", "urllib.request",
                  "http", "uuid", "secrets", "select", "selectors", "glob", "importlib", "inspect", "gc", "atexit",
                  "weakref", "builtins", "locale", "gettext", "codecs", "tokenize", "netrc"}
#: Built-in names a program may not use (I/O, dynamic code, the interpreter's state).
BANNED_BUILTINS = {"open", "print", "input", "exec", "eval", "compile", "globals", "locals", "vars", "id", "hash",
                   "breakpoint", "help", "exit", "quit", "__import__", "memoryview", "object", "super", "type"}
#: Audit events that end a traced child at once (a prefix match): files, sockets, processes, sleeps.
IO_EVENTS = ("open", "os.", "shutil.", "socket.", "subprocess.", "urllib.", "http.", "ftplib.", "smtplib.", "time.sleep",
             "ctypes.", "webbrowser.", "sqlite3.", "mmap.", "glob.", "tempfile.", "pty.", "fcntl.", "msvcrt.")
#: Exit status of a traced child stopped by the I/O guard.
IO_EXIT = 77

MIN_FRAMES = 3
MAX_FRAMES = 150
MAX_REPR = 200
MAX_PROGRAM_LINES = 90
#: Exceptions that mean the input did not fit the function, not that it raised on purpose.
MISFIT = ("TypeError", "AttributeError", "NameError", "RecursionError", "NotImplementedError", "UnboundLocalError",
          "AssertionError", "OverflowError", "MemoryError", "ZeroDivisionError")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|<[\w.]+ object")
_STR_SET = re.compile(r"""(?:^|[\[(,{ ])\{(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?:, |\})""")


@dataclass
class Program:
    """A self-contained program around one real function, and where it came from."""

    source: str
    entry: str
    params: list[inspect.Parameter] = field(repr=False)
    doc_calls: list[str]  # argument texts of the docstring's calls of the entry
    provenance: dict


# -- 1. programs --------------------------------------------------------------------------------------------


def _stdlib_names() -> frozenset:
    return frozenset(sys.stdlib_module_names)


def _module_defs(tree: ast.Module):
    """Top-level functions, constants and imports of a module, each by the names it binds."""
    funcs, consts, imports = {}, {}, {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            funcs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    consts[t.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                imports[(a.asname or a.name).split(".")[0]] = node
        elif isinstance(node, ast.ClassDef):
            funcs.setdefault(node.name, None)  # a class: known, but not usable
    return funcs, consts, imports


def _free_names(node: ast.AST) -> set[str]:
    """Names a definition reads that it does not bind itself (a coarse, safe over-approximation)."""
    loads, stores = set(), set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loads if isinstance(sub.ctx, ast.Load) else stores).add(sub.id)
        elif isinstance(sub, ast.arg):
            stores.add(sub.arg)
        elif isinstance(sub, (ast.FunctionDef, ast.Lambda)) and sub is not node and isinstance(sub, ast.FunctionDef):
            stores.add(sub.name)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            stores.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            return {"__import__"}  # an import inside a function: not followed
    return loads - stores


def _import_ok(node: ast.Import | ast.ImportFrom) -> bool:
    stdlib = _stdlib_names()
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module:
            return False
        mods = [node.module]
    else:
        mods = [a.name for a in node.names]
    return all(m.split(".")[0] in stdlib and m not in BANNED_IMPORTS and m.split(".")[0] not in BANNED_IMPORTS
               and not m.startswith("_") for m in mods)


def _is_generator(fn: ast.FunctionDef) -> bool:
    for sub in ast.walk(fn):
        if isinstance(sub, (ast.Yield, ast.YieldFrom)) and _owner(fn, sub) is fn:
            return True
    return False


def _owner(fn: ast.FunctionDef, target: ast.AST) -> ast.AST:
    """The innermost function definition in ``fn`` that contains ``target``."""
    owner = fn
    for sub in ast.walk(fn):
        if isinstance(sub, (ast.FunctionDef, ast.Lambda)) and sub is not fn:
            if any(s is target for s in ast.walk(sub)):
                owner = sub
    return owner


def _closure(name: str, funcs, consts, imports) -> tuple[set[str], set[ast.AST]] | None:
    """The same-module definitions ``name`` reaches (functions, constants, imports), or None if it
    reaches something that cannot go into a self-contained program."""
    seen, nodes, todo = set(), set(), [name]
    allowed_builtins = set(dir(builtins)) - BANNED_BUILTINS
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in funcs:
            node = funcs[n]
            if node is None or node.decorator_list or (n != name and _is_generator(node)):
                return None
        elif n in consts:
            node = consts[n]
        elif n in imports:
            node = imports[n]
            if not _import_ok(node):
                return None
            nodes.add(node)
            continue
        elif n in allowed_builtins:
            continue
        else:
            return None
        nodes.add(node)
        todo.extend(_free_names(node))
    return seen, nodes


def extract_programs(module_name: str, provenance: dict) -> list[Program]:
    """Every usable top-level function of a module as a self-contained :class:`Program`."""
    try:
        mod = importlib.import_module(module_name)
        path = inspect.getsourcefile(mod)
        text = Path(path).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (ImportError, OSError, TypeError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    funcs, consts, imports = _module_defs(tree)
    out = []
    for name, fn in funcs.items():
        if fn is None or name.startswith("_") or fn.decorator_list or _is_generator(fn):
            continue
        reach = _closure(name, funcs, consts, imports)
        if reach is None:
            continue
        _, nodes = reach
        body = [n for n in tree.body if n in nodes]  # the module's own order
        parts = []
        for n in body:
            seg = ast.get_source_segment(text, n)
            if seg is None:
                break
            parts.append(seg)
        else:
            source = "\n\n".join(_section(parts, body)) + "\n"
            if source.count("\n") > MAX_PROGRAM_LINES:
                continue
            try:
                params = list(inspect.signature(getattr(mod, name)).parameters.values())
            except (TypeError, ValueError, AttributeError):
                continue
            if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) and len(params) == 1:
                pass  # f(*args) is still callable with a few positional values
            calls = doctest_calls(ast.get_docstring(fn) or "", name)
            out.append(Program(source, name, params, calls, {**provenance, "module": module_name, "function": name}))
    return out


def _section(parts: list[str], nodes: list[ast.AST]) -> list[str]:
    """Imports together at the top, then constants, then functions (blank lines between defs)."""
    imp = [p for p, n in zip(parts, nodes) if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [p for p, n in zip(parts, nodes) if not isinstance(n, (ast.Import, ast.ImportFrom))]
    return (["\n".join(imp)] if imp else []) + [p + "\n" if p.startswith("def ") else p for p in rest]


def doctest_calls(doc: str, entry: str) -> list[str]:
    """Argument texts of the calls of ``entry`` in a docstring's examples, where every argument is a literal."""
    out = []
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:
        return out
    for ex in examples:
        try:
            tree = ast.parse(ex.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
                args = [ast.get_source_segment(ex.source, a) for a in node.args]
                kws = [f"{k.arg}={ast.get_source_segment(ex.source, k.value)}" for k in node.keywords if k.arg]
                if len(kws) != len(node.keywords) or any(a is None for a in args):
                    continue
                try:
                    for a in node.args + [k.value for k in node.keywords]:
                        ast.literal_eval(a)
                except (ValueError, SyntaxError, TypeError):
                    continue
                out.append(", ".join(args + kws))
    return list(dict.fromkeys(out))


# -- 2. inputs ------------------------------------------------------------------------------------------------

WORDS = ["apple", "Banana", "cherry", "data", "Hello", "world", "python", "Code", "x", "test", "CamelCase", "snake_case",
         "kebab-case", "ID", "HTTPServer", "naïve", "café", "zebra", "Mississippi", "level", "racecar", "foo", "bar",
         "baz", "user_name", "firstName", "URL", "A", "b", "12", "3.5", "-7", "0", "abc123", "Über", "Tab\there",
         "line\nbreak", "it's", "well-known", "e-mail", "don't", "OK", "yes", "NO", "True", "none"]
PUNCT = [" ", " ", ", ", "-", "_", ".", "!", "? ", ": ", "/", " & ", "  ", "\t", "'"]
STR_NAMES = {"s", "string", "text", "word", "name", "sentence", "input_string", "pattern", "sep", "char", "prefix",
             "suffix", "phrase", "line", "txt", "msg", "message", "title", "value_str", "key", "delimiter", "pat",
             "haystack", "needle", "chars", "substr", "sub", "st", "a_string", "camel_string", "underscore", "plural",
             "singular", "dasherized", "word_list", "string_a", "string_b", "ch", "c", "source", "target", "fill"}
INT_NAMES = {"n", "k", "num", "number", "i", "j", "m", "count", "size", "width", "length", "base", "index", "start",
             "end", "stop", "step", "times", "precision", "limit", "low", "high", "lo", "hi", "max_len", "depth",
             "pos", "offset", "amount", "x", "y", "a", "b", "p", "q", "r", "d", "num_rows", "rows", "cols", "target_sum",
             "value", "val", "digits", "places", "ndigits", "gran", "mod", "exp", "power", "ordinal", "year", "month"}
LIST_NAMES = {"arr", "array", "nums", "lst", "list", "seq", "sequence", "iterable", "items", "values", "data", "nums1",
              "nums2", "collection", "l", "xs", "a_list", "numbers", "elements", "list1", "list2", "iterables",
              "coins", "prices", "heights", "weights", "stones", "candidates", "vals", "iterable1", "iterable2", "it"}
STRLIST_NAMES = {"words", "strings", "strs", "names", "tokens", "lines", "parts", "keys", "list_of_strings"}
DICT_NAMES = {"d", "dict", "dct", "mapping", "dictionary", "obj", "counts", "freq", "table", "dicts"}
GRID_NAMES = {"matrix", "grid", "board", "mat", "rows_list", "triangle"}
FUNC_NAMES = {"func", "f", "fn", "pred", "predicate", "function", "callback", "key_func", "keyfunc", "transform",
              "mapper", "binop", "op", "iteratee", "callback_fn", "func1"}
FUNCS = ["len", "str", "abs", "bool", "str.upper", "lambda x: x * 2", "lambda x: x % 2 == 0", "lambda x: -x",
         "lambda a, b: a + b", "lambda x: x > 2"]


def rand_str(rng: random.Random) -> str:
    """A string as user code meets them: words, mixed case, punctuation, sometimes empty or padded."""
    r = rng.random()
    if r < 0.06:
        return rng.choice(["", " ", "a", "A1", "   "])
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.3:
        words = [w.upper() if rng.random() < 0.3 else w.lower() if rng.random() < 0.5 else w.title() for w in words]
    out = words[0]
    for w in words[1:]:
        out += rng.choice(PUNCT) + w
    if rng.random() < 0.15:
        out = " " * rng.randint(1, 2) + out + rng.choice(["", " ", "!", ".", "?"])
    return out


def rand_int(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.15:
        return rng.choice([0, 1, -1, 2])
    if r < 0.8:
        return rng.randint(-3, 20)
    return rng.choice([rng.randint(21, 200), rng.randint(1000, 99999), -rng.randint(10, 500)])


def rand_value(kind: str, rng: random.Random):
    if kind == "int":
        return rand_int(rng)
    if kind == "float":
        return round(rng.uniform(-20, 200), rng.choice([0, 1, 2, 3]))
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "str":
        return rand_str(rng)
    if kind == "list[int]":
        return [rand_int(rng) for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 6, 8]))]
    if kind == "list[str]":
        return [rand_str(rng) for _ in range(rng.randint(0, 5))]
    if kind == "dict":
        return {rng.choice(WORDS).lower(): rand_int(rng) for _ in range(rng.randint(0, 4))}
    if kind == "grid":
        w = rng.randint(1, 4)
        return [[rng.randint(0, 9) for _ in range(w)] for _ in range(rng.randint(1, 4))]
    if kind == "tuple":
        return tuple(rand_int(rng) for _ in range(rng.randint(0, 4)))
    if kind == "none":
        return None
    return rand_value(rng.choice(["int", "str", "list[int]"]), rng)


def mutate(value, rng: random.Random):
    """A value near ``value``: the same type, a different size or content, or an edge case."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice([value + rng.randint(1, 5), value - rng.randint(1, 5), value * 2, 0, -value, value // 2 + 1])
    if isinstance(value, float):
        return round(value * rng.choice([0.5, 2, -1, 10, 0.1]) + rng.randint(-3, 3), 3)
    if isinstance(value, str):
        if not value:
            return rand_str(rng)
        ops = [lambda v: v.upper(), lambda v: v.swapcase(), lambda v: v[::-1], lambda v: v + rng.choice(PUNCT) + rand_str(rng),
               lambda v: v[: max(1, len(v) // 2)], lambda v: v.replace(" ", rng.choice(["_", "-", "  ", ""])),
               lambda v: rand_str(rng), lambda v: v.title(), lambda v: "".join(rng.sample(v, len(v)))]
        return rng.choice(ops)(value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        r = rng.random()
        if r < 0.25 and items:
            items.pop(rng.randrange(len(items)))
        elif r < 0.5:
            items.append(mutate(items[rng.randrange(len(items))], rng) if items else rand_int(rng))
        elif r < 0.7:
            rng.shuffle(items)
        elif r < 0.85 and items:
            i = rng.randrange(len(items))
            items[i] = mutate(items[i], rng)
        else:
            items = items + [mutate(v, rng) for v in items[:3]]
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        d = dict(value)
        if d and rng.random() < 0.4:
            d.pop(rng.choice(list(d)))
        else:
            d[rng.choice(WORDS).lower()] = rand_int(rng)
        return d
    return value


_HINTS = [("list[list", "grid"), ("list[str", "list[str]"), ("List[str", "list[str]"), ("list", "list[int]"),
          ("List", "list[int]"), ("Sequence", "list[int]"), ("Iterable", "list[int]"), ("tuple", "tuple"),
          ("Tuple", "tuple"), ("dict", "dict"), ("Dict", "dict"), ("Mapping", "dict"), ("str", "str"),
          ("bool", "bool"), ("float", "float"), ("int", "int"), ("Callable", "func")]


def param_kind(p: inspect.Parameter) -> str:
    """The kind of value a parameter takes: from its hint, its default, then its name."""
    ann = p.annotation
    if ann is not p.empty:
        text = ann if isinstance(ann, str) else getattr(ann, "__name__", None) or str(ann)
        text = str(text).replace("typing.", "")
        for prefix, kind in _HINTS:
            if text.startswith(prefix):
                return kind
    d = p.default
    if d is not p.empty and d is not None:
        for t, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list[int]"),
                        (tuple, "tuple"), (dict, "dict")):
            if isinstance(d, t):
                return kind
    name = p.name.lower()
    for names, kind in ((FUNC_NAMES, "func"), (STRLIST_NAMES, "list[str]"), (GRID_NAMES, "grid"), (STR_NAMES, "str"),
                        (LIST_NAMES, "list[int]"), (DICT_NAMES, "dict"), (INT_NAMES, "int")):
        if name in names:
            return kind
    if name.endswith(("s", "_list", "list")):
        return "list[int]"
    if name.startswith(("is_", "use_", "allow", "keep", "strict")):
        return "bool"
    return "any"


def _text(value) -> str:
    return repr(value)


def candidate_inputs(prog: Program, rng: random.Random, n: int) -> list[str]:
    """Argument texts to try: the doctest calls, mutations of their values, then random values."""
    out = list(prog.doc_calls)
    seeds = []
    for call in prog.doc_calls:
        try:
            tree = ast.parse(f"f({call})", mode="eval").body
            seeds.append(([ast.literal_eval(a) for a in tree.args], {k.arg: ast.literal_eval(k.value) for k in tree.keywords}))
        except (ValueError, SyntaxError, TypeError):
            continue
    required = [p for p in prog.params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is p.empty]
    optional = [p for p in prog.params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                and p.default is not p.empty]
    star = any(p.kind == p.VAR_POSITIONAL for p in prog.params)
    kinds = [param_kind(p) for p in required]
    guard = 0
    while len(out) < n and guard < n * 4:
        guard += 1
        if seeds and rng.random() < 0.5:
            args, kws = rng.choice(seeds)
            args = [mutate(a, rng) if rng.random() < 0.6 else a for a in args]
            kws = {k: mutate(v, rng) if rng.random() < 0.5 else v for k, v in kws.items()}
            text = ", ".join([_text(a) for a in args] + [f"{k}={_text(v)}" for k, v in kws.items()])
        else:
            parts = [_arg_text(k, rng) for k in kinds]
            if star and not required:
                kind = rng.choice(["int", "list[int]", "str"])
                parts = [_arg_text(kind, rng) for _ in range(rng.randint(1, 3))]
            for p in optional:
                if rng.random() < 0.2:
                    parts.append(f"{p.name}={_arg_text(param_kind(p), rng)}")
            text = ", ".join(parts)
        if text not in out:
            out.append(text)
    return out[:n]


def _arg_text(kind: str, rng: random.Random) -> str:
    if kind == "func":
        return rng.choice(FUNCS)
    return _text(rand_value(kind, rng))


# -- 3. the filter ----------------------------------------------------------------------------------------------

_GUARD = {"armed": False}


def _io_guard(event: str, args) -> None:
    """Audit hook: in an armed (traced) child, any I/O ends the process with IO_EXIT."""
    if not _GUARD["armed"]:
        return
    if event == "open" and args and isinstance(args[0], int):
        return  # an already open descriptor (the frame pipe)
    if event.startswith(IO_EVENTS):
        os._exit(IO_EXIT)


class _NoOutput:
    """stdout and stderr of a traced child: writing anything is I/O."""

    def write(self, text: str) -> int:
        os._exit(IO_EXIT)

    def flush(self) -> None:
        pass


def _arm_guard() -> None:
    """In a fresh traced child: a new random state (code that uses it is not deterministic), output
    that counts as I/O, and the audit hook armed."""
    random.seed()
    sys.stdout = sys.stderr = _NoOutput()
    _GUARD["armed"] = True


def _install_guard() -> None:
    """Arm the I/O guard in every child this process forks (audit hooks cannot be removed: call it
    only in a worker process of its own)."""
    if _GUARD.get("installed"):
        return
    _GUARD["installed"] = True
    sys.addaudithook(_io_guard)
    os.register_at_fork(after_in_child=_arm_guard)


def limits():
    from neurodebug.real.tracer import Limits

    return Limits(wall_s=2.0, cpu_s=1.0, memory_mb=512, max_frames=MAX_FRAMES + 1, max_repr=MAX_REPR + 40,
                  max_output=1024)


def useful(trace, again) -> str | None:
    """Why a traced input is not kept (None: it is kept); ``again`` is a second run of the same input."""
    end = trace.end
    if end.reason == "exited" and end.value == str(IO_EXIT):
        return "io"
    if end.reason == "raised":
        if (end.value or "").startswith(MISFIT):
            return "misfit"
    elif end.reason != "returned":
        return end.reason
    if trace.stdout or trace.stderr:
        return "io"
    if not MIN_FRAMES <= len(trace.frames) <= MAX_FRAMES:
        return "length"
    texts = [end.value or ""]
    for f in trace.frames:
        texts.extend(f.locals.values())
        if f.arg is not None:
            texts.append(f.arg)
    if any(len(t) > MAX_REPR for t in texts):
        return "repr"
    if any(_ADDRESS.search(t) or _STR_SET.search(t) for t in texts):
        return "unstable"
    if again.to_json_dict() != trace.to_json_dict():
        return "nondeterministic"
    return None


def trace_program(prog: Program, inputs: list[str], keep: int, run=None,
                  check=None) -> tuple[list[tuple[str, object]], dict]:
    """Trace each input twice; the first ``keep`` useful (input, trace) pairs and the rejection counts.

    ``run(call)`` traces one input (the program's source as a string by default: a project's file
    is traced from its path); ``check(trace)`` may add a reason to reject a trace (or None)."""
    from neurodebug.real.sandbox import run_forked
    from neurodebug.real.tracer import trace_source

    run = run or (lambda call: trace_source(prog.source, prog.entry, call, limits(), runner=run_forked))
    kept, why = [], {}
    seen = set()
    for call in inputs:
        tr = run(call)
        reason = useful(tr, tr) or (check(tr) if check is not None else None)
        if reason is None:  # only a trace kept so far is run again, for determinism
            reason = useful(tr, run(call))
        if reason is None:
            key = json.dumps([(f.line, f.locals) for f in tr.frames], sort_keys=True)
            if key in seen:
                reason = "duplicate"
            seen.add(key)
        why[reason or "kept"] = why.get(reason or "kept", 0) + 1
        if reason is None:
            kept.append((call, tr))
            if len(kept) >= keep:
                break
    return kept, why


def _preimport(source: str) -> None:
    """Import the program's standard-library modules here, so the traced child never reads a file."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        for n in names:
            try:
                importlib.import_module(n)
            except ImportError:
                pass


# -- 4. built-in types -------------------------------------------------------------------------------------------

#: Method calls of the built-in types: (receiver type, call text with {a}/{b} placeholders, result type).
#: {a} and {b} are filled with literals of the types named in ARGS (or left out).
STR_OPS = [
    ("capitalize()", "str"), ("casefold()", "str"), ("center({w})", "str"), ("center({w}, {ch})", "str"),
    ("count({sub})", "int"), ("encode()", "bytes"), ("endswith({sub})", "bool"), ("endswith(({sub}, {sub2}))", "bool"),
    ("expandtabs({k})", "str"), ("find({sub})", "int"), ("find({sub}, {k})", "int"), ("format({w})", "str"),
    ("index({sub})", "int!"), ("isalnum()", "bool"), ("isalpha()", "bool"), ("isascii()", "bool"),
    ("isdecimal()", "bool"), ("isdigit()", "bool"), ("isidentifier()", "bool"), ("islower()", "bool"),
    ("isnumeric()", "bool"), ("isprintable()", "bool"), ("isspace()", "bool"), ("istitle()", "bool"),
    ("isupper()", "bool"), ("ljust({w}, {ch})", "str"), ("lower()", "str"), ("lstrip()", "str"),
    ("lstrip({chars})", "str"), ("partition({sep})", "tuple"), ("removeprefix({sub})", "str"),
    ("removesuffix({sub})", "str"), ("replace({sub}, {sub2})", "str"), ("replace({sub}, {sub2}, 1)", "str"),
    ("rfind({sub})", "int"), ("rindex({sub})", "int!"), ("rjust({w})", "str"), ("rpartition({sep})", "tuple"),
    ("rsplit({sep}, 1)", "list"), ("rsplit()", "list"), ("rstrip()", "str"), ("rstrip({chars})", "str"),
    ("split()", "list"), ("split({sep})", "list"), ("split({sep}, {k})", "list"), ("splitlines()", "list"),
    ("startswith({sub})", "bool"), ("startswith({sub}, {k})", "bool"), ("strip()", "str"), ("strip({chars})", "str"),
    ("swapcase()", "str"), ("title()", "str"), ("upper()", "str"), ("zfill({w})", "str"),
    ("translate(str.maketrans({sub1c}, {sub2c}))", "str"), ("format_map({{}})", "str"),
]
LIST_OPS = [("append({x})", None), ("clear()", None), ("copy()", "list"), ("count({x})", "int"), ("extend({xs})", None),
            ("index({x})", "int!"), ("insert({k}, {x})", None), ("pop()", "x!"), ("pop({k})", "x!"), ("remove({x})", "!"),
            ("reverse()", None), ("sort()", None), ("sort(reverse=True)", None), ("sort(key=abs)", None)]
DICT_OPS = [("clear()", None), ("copy()", "dict"), ("get({key})", "x"), ("get({key}, 0)", "x"), ("items()", "view"),
            ("keys()", "view"), ("pop({key})", "x!"), ("pop({key}, None)", "x"), ("popitem()", "tuple!"),
            ("setdefault({key}, {x})", "x"), ("update({dd})", None), ("values()", "view"),
            ("fromkeys({keys}, 0)", "dict")]
SET_OPS = [("add({x})", None), ("clear()", None), ("copy()", "set"), ("difference({ss})", "set"),
           ("difference_update({ss})", None), ("discard({x})", None), ("intersection({ss})", "set"),
           ("intersection_update({ss})", None), ("isdisjoint({ss})", "bool"), ("issubset({ss})", "bool"),
           ("issuperset({ss})", "bool"), ("pop()", "x!"), ("remove({x})", "!"), ("symmetric_difference({ss})", "set"),
           ("symmetric_difference_update({ss})", None), ("union({ss})", "set"), ("update({ss})", None)]
TUPLE_OPS = [("count({x})", "int"), ("index({x})", "int!")]
BUILTIN_CALLS = [  # (call text over a list of ints `{v}`, what it gives)
    "len({v})", "sorted({v})", "sorted({v}, reverse=True)", "list(reversed({v}))", "min({v})", "max({v})", "sum({v})",
    "sum({v}, {k})", "list(enumerate({v}))", "list(enumerate({v}, 1))", "list(zip({v}, {v}[1:]))", "list(map(abs, {v}))",
    "list(filter(None, {v}))", "any({v})", "all({v})", "set({v})", "tuple({v})", "dict.fromkeys({v}, 0)",
    "{v}[{k}:]", "{v}[:{k}]", "{v}[::-1]", "{v}[::2]", "{v}[1:-1]", "{v}[-{k}:]", "{v}[{k}]", "{v}[-1]",
    "sorted({v}, key=lambda n: -n)", "max({v}, default=None)", "min({v}, key=abs)", "list(range(len({v})))",
    "{v} + [{k}]", "{v} * 2", "{k} in {v}", "{v}.count({k})",
]
SCALAR_CALLS = ["abs({i})", "round({f}, 1)", "round({f})", "divmod({i}, {k})", "pow({i}, 2)", "int({f})", "float({i})",
                "str({i})", "int(str({k}) + '1')", "bool({i})", "chr(97 + {k})", "ord({ch})", "hex({k})", "bin({k})",
                "oct({k})", "{i} // {k}", "{i} % {k}", "-{i} // {k}", "{i} ** 2", "max({i}, {k})", "min({i}, {k}, 3)",
                "isinstance({i}, int)", "str({f})", "format({f}, '.2f')", "str({i}).rjust(4)", "{i} / {k}"]
STR_CALLS = ["len({s})", "{s}[{k}:]", "{s}[:{k}]", "{s}[::-1]", "{s}[-1]", "{s}[{k}]", "{s}[1:-1]", "{s}[::2]",
             "sorted({s})", "list({s})", "set({s}.lower()) == set({s})", "{s} * 2", "{s} + {sub}", "{sub} in {s}",
             "'-'.join({s})", "', '.join({s}.split())", "''.join(reversed({s}))", "ord({s}[0])", "{s}.split()[::-1]",
             "str(len({s}))", "[c for c in {s} if c.isupper()]", "{s}.lower().count('a')", "max({s}.split() or [''], key=len)"]

_VARS = {"str": ["text", "s", "word", "name", "line"], "list": ["items", "nums", "values", "xs", "data"],
         "dict": ["counts", "table", "d", "scores"], "set": ["seen", "bag", "group"], "tuple": ["pair", "point", "t"]}


def _fill(template: str, rng: random.Random, ints: list[int], keys: list[str], **names: str) -> str:
    """Fill an operation's placeholders with literals of varied kinds and sizes (``names``: variables)."""
    sub = rng.choice(["a", "e", " ", ", ", "-", "_", "an", "the", "Hello", "x", "ab", "is", "."])
    frm, to = rng.choice([("ab", "xy"), ("ae", "AE"), ("-_", "_-"), (" .", "+,"), ("o", "0")])
    return template.format(
        w=rng.choice([5, 8, 10, 12, 3]), ch=repr(rng.choice(["*", "-", ".", "0", " "])), sub=repr(sub),
        sub2=repr(rng.choice(["", "_", "X", "--", "ab", " "])), k=rng.choice([0, 1, 2, 3, -1, 5]),
        chars=repr(rng.choice([" .", "!?", "ab", "-_", "x", "0"])), sep=repr(rng.choice([" ", ",", "-", ":", ", ", "="])),
        sub1c=repr(frm), sub2c=repr(to),
        x=rng.choice(ints) if ints and rng.random() < 0.6 else rand_int(rng),
        xs=repr([rand_int(rng) for _ in range(rng.randint(0, 3))]),
        key=repr(rng.choice(keys) if keys and rng.random() < 0.6 else rng.choice(WORDS).lower()),
        dd=repr({rng.choice(WORDS).lower(): rand_int(rng) for _ in range(rng.randint(1, 3))}),
        keys=repr([rng.choice(WORDS).lower() for _ in range(rng.randint(1, 3))]),
        ss=repr(sorted({rng.randint(0, 9) for _ in range(rng.randint(0, 4))})),
        i=str(rand_int(rng)), f=str(round(rng.uniform(-9, 99), 2)), **names,
    )


def builtin_program(rng: random.Random, index: int) -> tuple[str, str, list[str], str]:
    """A short function over one built-in type: (source, entry, argument texts, kind).

    Shapes: straight-line method calls; a loop that applies one to each item; a helper of the same
    file called in a loop; a method that can raise, inside try/except; built-in functions and slicing.
    """
    shape = rng.choice(["straight", "loop", "helper", "catch", "builtins", "builtins"])
    typ = rng.choice(["str", "str", "list", "dict", "set", "tuple"])
    name = rng.choice(_VARS[typ])
    entry = rng.choice(["process", "solve", "transform", "summarize", "clean", "analyze", "build", "check",
                        "normalize", "run"]) + rng.choice(["", "_" + name, "_items", "_text", "_data"])
    ints = [rand_int(rng) for _ in range(rng.randint(0, 6))]
    keys = [rng.choice(WORDS).lower() for _ in range(rng.randint(0, 4))]
    args = [_typ_value(typ, rng, ints, keys) for _ in range(3)]
    ops = {"str": STR_OPS, "list": LIST_OPS, "dict": DICT_OPS, "set": SET_OPS, "tuple": TUPLE_OPS}[typ]
    body: list[str] = []
    helper = ""
    if shape == "builtins":
        if typ in ("dict", "set"):
            typ, name = "list", "nums"
            args = [repr([rand_int(rng) for _ in range(rng.randint(1, 6))]) for _ in range(3)]
        pool = STR_CALLS if typ == "str" else BUILTIN_CALLS + SCALAR_CALLS
        if typ == "tuple":
            args = [repr(tuple(rand_int(rng) for _ in range(rng.randint(1, 5)))) for _ in range(3)]
        for j in range(rng.randint(2, 5)):
            body.append(f"r{j} = " + _fill(rng.choice(pool), rng, ints, keys, v=name, s=name))
        body.append(f"return {rng.choice(['r0', f'r{j}', f'(r0, r{j})'])}")
        if typ != "str" and rng.random() < 0.7:
            body = ["if not " + name + ":", "    return None"] + body
    elif shape == "straight":
        last = None
        for j in range(rng.randint(2, 4)):
            op, res = rng.choice([o for o in ops if "!" not in (o[1] or "")])
            call = _fill(op, rng, ints, keys)
            if res is None or typ != "str" and res not in ("str", "list", "dict", "set", "tuple"):
                body.append(f"{name}.{call}" if res is None else f"r{j} = {name}.{call}")
                last = last if res is None else f"r{j}"
            elif res == typ:
                body.append(f"{name} = {name}.{call}")
            else:
                body.append(f"r{j} = {name}.{call}")
                last = f"r{j}"
        body.append(f"return {name}" if last is None or rng.random() < 0.3 else f"return {last}, {name}")
    elif shape == "loop":
        op, res = rng.choice(ops)
        call = _fill(op, rng, ints, keys)
        body += ["result = []", f"for item in {name}_list:", f"    {'cur = item' if typ != 'tuple' else 'cur = tuple(item)'}"]
        if "!" in (res or ""):
            body += ["    try:", f"        out = cur.{call}", "    except (ValueError, KeyError, IndexError) as err:",
                     "        out = str(err)"]
        else:
            body += [f"    out = cur.{call}"]
        body += ["    if out is None:", "        out = cur", "    result.append(out)", "return result"]
        args = ["[" + ", ".join(_typ_value(typ, rng, ints, keys) for _ in range(rng.randint(1, 4))) + "]" for _ in range(3)]
        name = f"{name}_list"
    elif shape == "helper":
        op, res = rng.choice(ops)
        call = _fill(op, rng, ints, keys)
        hname = rng.choice(["apply", "fix", "step", "convert", "tidy", "pick", "one"]) + "_" + rng.choice(["one", "item", "value", "part"])
        helper = f"def {hname}(value):\n"
        if "!" in (res or ""):
            helper += f"    try:\n        got = value.{call}\n    except (ValueError, KeyError, IndexError):\n        return None\n"
        else:
            helper += f"    got = value.{call}\n"
        helper += "    if got is None:\n        return value\n    return got\n\n\n"
        body += ["out = []", f"for pos, item in enumerate({name}_all):", f"    got = {hname}(item)",
                 "    if got is not None:", "        out.append((pos, got))", "return out"]
        args = ["[" + ", ".join(_typ_value(typ, rng, ints, keys) for _ in range(rng.randint(1, 3))) + "]" for _ in range(3)]
        name = f"{name}_all"
    else:  # catch
        op, res = rng.choice([o for o in ops if "!" in (o[1] or "")] or ops)
        call = _fill(op, rng, ints, keys)
        exc = rng.choice(["ValueError", "(ValueError, KeyError, IndexError)", "Exception", "LookupError" if typ != "str" else "ValueError"])
        body += ["count = 0", "try:", f"    found = {name}.{call}", "    count += 1", f"except {exc} as err:",
                 "    found = -1" if rng.random() < 0.5 else "    found = repr(err)", "finally:", "    count += 10",
                 f"return found, count, {name}"]
    params = name
    source = helper + f"def {entry}({params}):\n" + textwrap.indent("\n".join(body), "    ") + "\n"
    return source, entry, args, f"builtins:{typ}:{shape}"


def _typ_value(typ: str, rng: random.Random, ints: list[int], keys: list[str]) -> str:
    if typ == "str":
        return repr(rand_str(rng))
    if typ == "list":
        return repr(list(ints) if rng.random() < 0.5 else [rand_int(rng) for _ in range(rng.randint(0, 6))])
    if typ == "dict":
        return repr({k: rand_int(rng) for k in (keys or [rng.choice(WORDS).lower()])})
    if typ == "set":
        return repr({abs(rand_int(rng)) % 10 for _ in range(rng.randint(0, 5))} or set())
    return repr(tuple(ints[:4]))


# -- 5. project code ------------------------------------------------------------------------------------------
# The debugger reads project code through trace.context.build (docs/trace-format.md, "Project code");
# a model learns that format only from traces written on exactly that context, so each trace here
# is real (the tracer, filter and limits of sections 1-3) and its ``source`` is that context:
# ``method`` (a class's constructor and method as the call expression ``Class(...).method(...)``),
# ``sequence`` (one instance through two or three method calls: ``s = Stack(); s.push(3); s.pop()``),
# ``multi-file`` (a package function reaching its other modules, traced in a temporary copy of the
# package's needed files, under ``# file: PATH`` headers) and ``test`` (``def test_f():`` calling a
# kept function or method with a kept input and asserting the real result).

#: Built-ins a class needs that plain functions may not use (``object()`` alone shows an address,
#: which the filter rejects anyway).
CLASS_BUILTINS = {"object", "super", "type"}
#: Traces kept per method; a class keeps at most ``per_function`` times this many in all.
PER_METHOD = 2


# -- 5a. the budget: the bundled model --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _bundled_budget():
    """(codec, tokens, bytes) of the bundled model: its tokenizer, half of its context
    (CONTEXT_SHARE), and the most bytes one token covers (its byte-level BPE vocabulary writes
    each byte as one character: 17 for the bundled tokenizer)."""
    import neurodebug.bundled
    from neurodebug.codec import Codec
    from neurodebug.model.tokenizer import load_tokenizer
    from neurodebug.trace.context import CONTEXT_SHARE

    folder = Path(neurodebug.bundled.__file__).parent
    limit = json.loads((folder / "config.json").read_text())["max_position_embeddings"]
    longest = max(map(len, json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]))
    return Codec(load_tokenizer(folder)), int(limit * CONTEXT_SHARE), longest


def fits(text: str, entry: str | None) -> bool:
    """Whether a context is within the bundled model's budget, counted as the session counts it.

    A text of more than ``budget * longest`` bytes cannot fit and is not tokenized: context.build
    leaves statements out one at a time and asks again each time, and tokenizing a long file's
    reach takes most of a second (0.74 s for more_itertools/more.py, 175,452 characters)."""
    codec, budget, longest = _bundled_budget()
    if len(text.encode()) > budget * longest:
        return False
    return len(codec.prompt_ids(text, entry)) <= budget


# -- 5b. rows -----------------------------------------------------------------------------------------------------


def project_row(context_text: str, trace, provenance: dict) -> dict:
    """A corpus row (the shape of :func:`_row`) of a real trace written on its context."""
    trace = replace(trace, source=context_text)
    name = provenance.get("test") or provenance["function"]
    key = f"{provenance['package']}:{provenance['module']}:{provenance['kind']}:{name}"
    return {"id": f"{key}:{zlib.crc32((trace.call or '').encode()) % 10**8}", "provenance": provenance,
            **trace.to_json_dict()}


# -- 5c. classes -----------------------------------------------------------------------------------------------


@dataclass
class ClassProgram:
    """A self-contained program around one class: its methods' signatures and doctest calls."""

    source: str
    name: str
    ctor: Program  # the constructor's parameters and doctest argument texts
    methods: list[Program] = field(repr=False)  # one per public method (entry: its name)
    doc_expressions: list[str] = field(default_factory=list)  # whole `Class(...).method(...)` texts
    doc_sequences: list[str] = field(default_factory=list)  # `s = Class(...); s.m(...); s.n(...)` texts
    provenance: dict = field(default_factory=dict)


def _class_closure(name: str, tree: ast.Module) -> set[ast.AST] | None:
    """The same-module statements class ``name`` reaches, or None when it reaches something a
    self-contained program cannot hold (as :func:`_closure`, with classes usable)."""
    funcs, consts, imports = _module_defs(tree)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    allowed = (set(dir(builtins)) - BANNED_BUILTINS) | CLASS_BUILTINS
    seen, nodes, todo = set(), set(), [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in classes:
            node = classes[n]
        elif funcs.get(n) is not None:
            node = funcs[n]
            if node.decorator_list or _is_generator(node):
                return None
        elif n in consts:
            node = consts[n]
        elif n in imports:
            if not _import_ok(imports[n]):
                return None
            nodes.add(imports[n])
            continue
        elif n in allowed:
            continue
        else:
            return None
        nodes.add(node)
        todo.extend(_free_names(node))
    return nodes


def _is_exception(node: ast.ClassDef) -> bool:
    return any(isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception", "Warning")) for b in node.bases)


def _method_nodes(node: ast.ClassDef) -> list[ast.FunctionDef]:
    """Public methods a call expression can run: plain, class or static, never generators."""
    ok = {"staticmethod", "classmethod"}
    return [m for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")
            and all(isinstance(d, ast.Name) and d.id in ok for d in m.decorator_list) and not _is_generator(m)]


def _params(fn) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None


def extract_classes(module_name: str, provenance: dict) -> list[ClassProgram]:
    """Every usable top-level class of a module as a self-contained :class:`ClassProgram`."""
    try:
        mod = importlib.import_module(module_name)
        text = Path(inspect.getsourcefile(mod)).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (ImportError, OSError, TypeError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    out = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_") or _is_exception(node):
            continue
        prog = _class_program(node, tree, text, mod, {**provenance, "module": module_name, "class": node.name})
        if prog is not None:
            out.append(prog)
    return out


def _class_program(node: ast.ClassDef, tree: ast.Module, text: str, mod, provenance: dict) -> ClassProgram | None:
    """The class with the code it reaches, and its callable methods (None when it cannot stand alone)."""
    nodes = _class_closure(node.name, tree)
    cls = getattr(mod, node.name, None)
    methods = _method_nodes(node)
    if nodes is None or not inspect.isclass(cls) or not methods:
        return None
    body = [n for n in tree.body if n in nodes]
    parts = [ast.get_source_segment(text, n) for n in body]
    if any(p is None for p in parts):
        return None
    source = "\n\n".join(_section(parts, body)) + "\n"
    ctor_params = _params(cls)
    if ctor_params is None:
        return None
    docs = [ast.get_docstring(node) or ""] + [ast.get_docstring(m) or "" for m in methods]
    ctor_calls = [c for d in docs for c in doctest_calls(d, node.name)]
    progs = [p for m in methods if (p := _method_program(cls, m, source, docs, provenance)) is not None]
    expressions = list(dict.fromkeys(e for d in docs for e in doctest_expressions(d, node.name)))
    sequences = list(dict.fromkeys(s for d in docs for s in doctest_sequences(d, node.name)))
    ctor = Program(source, node.name, ctor_params, list(dict.fromkeys(ctor_calls)), provenance)
    return ClassProgram(source, node.name, ctor, progs, expressions, sequences, provenance) if progs else None


def _method_program(cls, node: ast.FunctionDef, source: str, docs: list[str], provenance: dict) -> Program | None:
    """A method as a :class:`Program`: its parameters after ``self`` or ``cls``, its doctests' arguments."""
    static = inspect.getattr_static(cls, node.name)
    params = _params(static.__func__ if isinstance(static, (staticmethod, classmethod)) else getattr(cls, node.name))
    if params is None:
        return None
    if not node.decorator_list or node.decorator_list[0].id == "classmethod":
        params = params[1:]  # self, or cls
    calls = list(dict.fromkeys(a for d in docs for a in _doctest_method_args(d, provenance["class"], node.name)))
    return Program(source, node.name, params, calls, {**provenance, "function": f"{provenance['class']}.{node.name}"})


def _literal_args(call: ast.Call, src: str) -> str | None:
    """The argument text of a call whose arguments are all literals (None otherwise)."""
    if any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    try:
        for a in call.args + [k.value for k in call.keywords]:
            ast.literal_eval(a)
    except (ValueError, SyntaxError, TypeError):
        return None
    args = [ast.get_source_segment(src, a) for a in call.args]
    kws = [f"{k.arg}={ast.get_source_segment(src, k.value)}" for k in call.keywords]
    return None if None in args else ", ".join(args + kws)


def _doctest_statements(doc: str):
    """The statements of a docstring's examples, in order, each with its source text."""
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:
        return
    for ex in examples:
        try:
            tree = ast.parse(ex.source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            yield stmt, ex.source


def doctest_expressions(doc: str, cls: str) -> list[str]:
    """``Class(args).method(args)`` texts from a docstring's examples: ``s = Class(...)`` then
    ``s.method(...)``, or the chain written out, every argument a literal."""
    made: dict[str, str] = {}  # variable -> its constructor call text
    out = []
    for stmt, src in _doctest_statements(doc):
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            value = stmt.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == cls:
                args = _literal_args(value, src)
                if args is not None:
                    made[stmt.targets[0].id] = f"{cls}({args})"
                    continue
        for node in ast.walk(stmt):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target, method = node.func.value, node.func.attr
            args = _literal_args(node, src)
            if args is None or method.startswith("_"):
                continue
            if isinstance(target, ast.Name) and target.id in made:
                out.append(f"{made[target.id]}.{method}({args})")
            elif isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == cls:
                ctor = _literal_args(target, src)
                if ctor is not None:
                    out.append(f"{cls}({ctor}).{method}({args})")
    return out


def _doctest_method_args(doc: str, cls: str, method: str) -> list[str]:
    prefix = f").{method}("
    return [e[e.index(prefix) + len(prefix):-1] for e in doctest_expressions(doc, cls) if prefix in e]


def class_expressions(prog: ClassProgram, method: Program, rng: random.Random, n: int) -> list[str]:
    """Call expressions to try for one method: its doctest chains, then generated constructor and
    method arguments (:func:`candidate_inputs` for each)."""
    own = [e for e in prog.doc_expressions if f").{method.entry}(" in e]
    ctors = candidate_inputs(prog.ctor, rng, n)
    args = candidate_inputs(method, rng, n)
    made = [f"{prog.name}({rng.choice(ctors) if ctors else ''}).{method.entry}({a})" for a in (args or [""])]
    return list(dict.fromkeys(own + made))[:n]


def method_traces(prog: ClassProgram, rng: random.Random, per_function: int, tries: int):
    """(method program, expression, trace) of each kept run of the class's methods."""
    from neurodebug.trace.context import CALL_ENTRY

    kept = []
    for method in prog.methods:
        runner = Program(prog.source, CALL_ENTRY, [], [], method.provenance)
        got, _ = trace_program(runner, class_expressions(prog, method, rng, max(2, tries // 4)), PER_METHOD)
        kept += [(method, expression, trace) for expression, trace in got]
        if len(kept) >= per_function * PER_METHOD:
            break
    return kept[:per_function * PER_METHOD]


def method_rows(prog: ClassProgram, kept) -> list[dict]:
    """The rows of kept method runs, each on the context the debugger gives a call expression."""
    from neurodebug.trace.context import CALL_ENTRY, whole_file

    rows = []
    for method, expression, trace in kept:
        context = whole_file(prog.source, None, expression)
        if fits(context.text, CALL_ENTRY):
            rows.append(project_row(context.text, trace, {**method.provenance, "kind": "method"}))
    return rows


# -- 5d. call sequences on one object ----------------------------------------------------------------------------
# A method that needs state first (``Stack().pop()``) says little on a fresh instance; a sequence
# makes one instance and calls two or three of its methods in order, returning the last call's
# value, in the call function (``def __trace__(): s = Stack(); s.push(3); return s.pop()``).

#: Sequences kept per class (the method kind keeps ``PER_METHOD`` per method).
PER_CLASS_SEQUENCES = 4
#: First words of method names that change an instance, and of those that read it (or take from it).
MUTATING = {"push", "add", "append", "insert", "update", "put", "enqueue", "set", "extend", "store", "increment",
            "offer", "register", "mark", "feed", "load", "fill"}
READING = {"pop", "peek", "get", "size", "len", "length", "contains", "remove", "dequeue", "top", "find", "search",
           "is", "has", "count", "delete", "front", "first", "last", "to", "lookup", "total", "items", "keys",
           "values", "min", "max", "poll", "query", "sum", "rank", "index", "discard", "as"}
#: The call function's name while it is traced as part of the program: the tracer runs only one
#: call expression in CALL_ENTRY, so the sequence runs as the program's own function, and its
#: frames then take the call function's name, file and lines (:func:`trace_sequence`).
SEQUENCE_ENTRY = "__sequence__"


def _calls_on(stmt: ast.stmt, src: str, var: str) -> str | None:
    """``method(args)`` when the statement's only use of ``var`` is one public method call with
    literal arguments (``s.push(2)``, ``x = s.pop()``); None for any other use."""
    uses = [n for n in ast.walk(stmt) if isinstance(n, ast.Name) and n.id == var]
    calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) and n.func.value.id == var]
    if len(uses) != 1 or len(calls) != 1 or calls[0].func.attr.startswith("_"):
        return None
    args = _literal_args(calls[0], src)
    return None if args is None else f"{calls[0].func.attr}({args})"


def _constructed(stmt: ast.stmt, src: str, cls: str) -> tuple[str, str] | None:
    """(variable, ``Class(args)``) of ``s = Class(literals)``; None for any other statement."""
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return None
    value = stmt.value
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == cls):
        return None
    args = _literal_args(value, src)
    return None if args is None else (stmt.targets[0].id, f"{cls}({args})")


def doctest_chains(doc: str, cls: str) -> list[tuple[str, str, list[str]]]:
    """(variable, constructor call, method calls) of each instance a docstring's examples make
    (``s = Stack(1)``) and then call methods on (``s.push(2)``, ``s.pop()``), in order. A chain
    ends where an example uses the instance in any other way: its state is then unknown."""
    chains, live = [], {}
    for stmt, src in _doctest_statements(doc):
        made = _constructed(stmt, src, cls)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name):
            continue  # `>>> s` shows the instance: its state stays as it was
        for var in [v for v in live if any(isinstance(n, ast.Name) and n.id == v for n in ast.walk(stmt))]:
            call = _calls_on(stmt, src, var)
            if call is None or (made and made[0] == var):
                del live[var]
            else:
                live[var][2].append(call)
        if made:
            live[made[0]] = (*made, [])
            chains.append(live[made[0]])
    return chains


def sequence_text(var: str, ctor: str, calls: list[str]) -> str | None:
    """``s = Stack(); s.push(3); s.pop()``, each statement as ``ast.unparse`` writes it (as the
    call function shows it); None when a part does not parse."""
    try:
        body = ast.parse("; ".join([f"{var} = {ctor}"] + [f"{var}.{c}" for c in calls])).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return "; ".join(ast.unparse(s) for s in body)


def doctest_sequences(doc: str, cls: str) -> list[str]:
    """Sequences of two or three calls from a docstring's chains: each call with the one or two
    before it (the first ones are the example's own state; later windows start from a fresh one)."""
    out = []
    for var, ctor, calls in doctest_chains(doc, cls):
        for j in range(1, len(calls)):
            text = sequence_text(var, ctor, calls[max(0, j - 2):j + 1])
            if text is not None:
                out.append(text)
    return list(dict.fromkeys(out))


def instance_name(cls: str) -> str:
    """The variable a generated sequence keeps its instance in: the class name's last word in
    lower case (``ArrayStack`` -> ``stack``), or ``obj`` where that is a keyword or a built-in."""
    words = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", cls)
    name = words[-1].lower() if words else "obj"
    ok = name.isidentifier() and not keyword.iskeyword(name) and not hasattr(builtins, name) and name != cls
    return name if ok else "obj"


def _named(name: str, words: set[str]) -> bool:
    """Whether a method's name starts with one of ``words``: as its first word (``is_empty``,
    ``addEdge``), or run together with the rest for words of three letters or more (``getstate``,
    ``popitem``; ``is`` and ``to`` alone would take ``issue`` and ``tokens``)."""
    first = re.split(r"_|(?<=[a-z0-9])(?=[A-Z])", name)[0].lower()
    return first in words or any(len(w) >= 3 and first.startswith(w) for w in words)


def _arguments(call: ast.Call) -> str:
    return ", ".join([ast.unparse(a) for a in call.args] + [f"{k.arg}={ast.unparse(k.value)}" for k in call.keywords])


def kept_arguments(kept) -> tuple[list[str], dict[str, list[str]], dict[str, bool]]:
    """From the method kind's kept runs: constructor argument texts, method name -> argument texts
    (arguments that fit), and method name -> whether a run returned None (a method that returns
    None changes the instance; one that returns a value reads it)."""
    ctors, args, returns_none = [], {}, {}
    for method, expression, trace in kept:
        call = ast.parse(expression, mode="eval").body
        ctor = getattr(getattr(call, "func", None), "value", None)
        if not (isinstance(call, ast.Call) and isinstance(ctor, ast.Call)):
            continue  # not `Class(...).method(...)`: no arguments to take from it
        ctors.append(_arguments(ctor))
        args.setdefault(method.entry, []).append(_arguments(call))
        if trace.end.reason == "returned":
            returns_none[method.entry] = returns_none.get(method.entry, False) or trace.end.value == "None"
    return list(dict.fromkeys(ctors)), {m: list(dict.fromkeys(a)) for m, a in args.items()}, returns_none


def generated_sequences(prog: ClassProgram, kept, rng: random.Random, n: int) -> list[str]:
    """Sequences of a method that changes the instance (once or twice) then one that reads it,
    by name (push/add/insert... then pop/peek/get...), else by what its kept runs returned (None:
    it changes the instance; a value: it reads it); without a reading method the last call changes
    it again, as ``c.add(3); c.add(4)``. On arguments that fit (the kept runs': the constructor's
    alone when there are some) and generated ones (:func:`candidate_inputs`)."""
    ctors, fitting, returns_none = kept_arguments(kept)
    ctors = ctors or candidate_inputs(prog.ctor, rng, n) or [""]
    args = {m.entry: list(dict.fromkeys(fitting.get(m.entry, []) + candidate_inputs(m, rng, n))) or [""]
            for m in prog.methods}
    mutating = [m.entry for m in prog.methods if _named(m.entry, MUTATING)
                or (not _named(m.entry, READING) and returns_none.get(m.entry))]
    reading = [m.entry for m in prog.methods if m.entry not in mutating
               and (_named(m.entry, READING) or returns_none.get(m.entry) is False)]
    pairs = [(m, r) for m in mutating for r in reading or mutating]
    rng.shuffle(pairs)
    out = []
    for i in range(n if pairs else 0):
        first, last = pairs[i % len(pairs)]
        names = [first, rng.choice(mutating), last] if i % 2 else [first, last]
        calls = [f"{name}({rng.choice(args[name])})" for name in names]
        text = sequence_text(instance_name(prog.name), f"{prog.name}({rng.choice(ctors)})", calls)
        if text is not None:
            out.append(text)
    return list(dict.fromkeys(out))


def trace_sequence(source: str, body: str):
    """The real trace of the call function running ``body`` after ``source``, as the tracer
    writes a call expression's: the function is traced as the program's own (named
    SEQUENCE_ENTRY), then its frames are put in CALL_FILE on the call function's lines."""
    from neurodebug.real.sandbox import run_forked
    from neurodebug.real.tracer import trace_source
    from neurodebug.trace.context import CALL_ENTRY, call_function

    function = call_function(body)
    program = source.rstrip("\n") + "\n\n\n" + function.replace(CALL_ENTRY, SEQUENCE_ENTRY, 1)
    offset = program.count("\n") - function.count("\n")
    trace = trace_source(program, SEQUENCE_ENTRY, "", limits(), runner=run_forked)
    return _as_call_trace(trace, source, body, function, offset)


def _as_call_trace(trace, source: str, body: str, function: str, offset: int):
    """``trace`` with the frames past line ``offset`` (the traced call function's) placed as
    the tracer places a call expression's, and its end naming the call as written."""
    from neurodebug.trace.context import CALL_ENTRY, CALL_FILE

    lines = function.splitlines()

    def place(frame):
        if frame.line is None or frame.line <= offset:
            return frame
        line = frame.line - offset
        func = CALL_ENTRY if frame.func == SEQUENCE_ENTRY else frame.func
        return replace(frame, line=line, source=lines[line - 1], file=CALL_FILE, func=func)

    end = replace(trace.end, message=trace.end.message.replace(f"{SEQUENCE_ENTRY}()", body))
    if end.line is not None and end.line > offset:  # raised in the call function: in no file's line
        end = replace(end, line=None, message=end.message.replace(f" at line {end.line}", ""))
    return replace(trace, source=source, entry=CALL_ENTRY, call=body, frames=[place(f) for f in trace.frames], end=end)


def _reaches_last_call(trace, body: str) -> str | None:
    """None when the run reached the sequence's last statement (an earlier call that raised ends
    it before the instance went through the sequence: that is the method kind's trace)."""
    from neurodebug.trace.context import CALL_FILE, call_function

    last = call_function(body).count("\n")
    reached = any(f.file == CALL_FILE and f.line == last and f.event == "line" for f in trace.frames)
    return None if reached else "unfinished"


def sequence_rows(prog: ClassProgram, kept, rng: random.Random, tries: int) -> list[dict]:
    """The rows of a class's call sequences: its doctests' first, then generated ones, at most
    PER_CLASS_SEQUENCES kept, each on the context the debugger gives its call function."""
    from neurodebug.trace.context import CALL_ENTRY, whole_file

    doctest = prog.doc_sequences[:tries]
    bodies = list(dict.fromkeys(doctest + generated_sequences(prog, kept, rng, max(4, tries // 2))))
    runner = Program(prog.source, CALL_ENTRY, [], [], prog.provenance)
    got, _ = trace_program(runner, bodies, PER_CLASS_SEQUENCES, run=lambda body: trace_sequence(prog.source, body),
                           check=lambda trace: _reaches_last_call(trace, trace.call))
    rows = []
    for body, trace in got:
        context = whole_file(prog.source, None, body)
        if fits(context.text, CALL_ENTRY):
            rows.append(project_row(context.text, trace, sequence_provenance(prog, body, body in doctest)))
    return rows


def sequence_provenance(prog: ClassProgram, body: str, from_doctest: bool) -> dict:
    """The class's provenance with ``kind: sequence``, the methods called in order, the one whose
    value the run returns as ``function`` (``Class.method``, so in_calibration follows the class),
    and where the sequence came from (``doctest`` or ``generated``)."""
    statements = ast.parse(body).body[1:]
    methods = [s.value.func.attr for s in statements]
    return {**prog.provenance, "kind": "sequence", "function": f"{prog.name}.{methods[-1]}", "methods": methods,
            "origin": "doctest" if from_doctest else "generated"}


def _side_rng(rng: random.Random) -> random.Random:
    """A generator that starts where ``rng`` is and leaves it as it is, so that asking for one more
    kind leaves the rows of the others as they were."""
    side = random.Random()
    side.setstate(rng.getstate())
    return side


# -- 5e. test functions ----------------------------------------------------------------------------------------


def _literal(value: str | None) -> bool:
    """Whether a value text is a literal that reads back as itself (so ``==`` can assert it)."""
    try:
        return value is not None and repr(ast.literal_eval(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def test_source(name: str, call: str, end) -> str | None:
    """``def test_NAME():`` that runs ``call`` and asserts what the real run gave: its returned
    value, or the built-in exception it raised on purpose; None when that cannot be asserted."""
    head = f"def test_{name}():\n"
    if end.reason == "returned" and _literal(end.value):
        return head + f"    result = {call}\n    assert result == {end.value}\n"
    exc = (end.value or "").split("(")[0]
    if end.reason == "raised" and isinstance(getattr(builtins, exc, None), type):
        return (head + f"    try:\n        {call}\n    except {exc}:\n        return\n"
                f"    raise AssertionError({(call + ' did not raise ' + exc)!r})\n")
    return None


def test_rows(source: str, name: str, call: str, end, provenance: dict) -> list[dict]:
    """The row of a test function around one kept run (none when it is not kept by the filter)."""
    test = test_source(name.replace(".", "_").lower(), call, end)
    if test is None:
        return []
    program = source.rstrip("\n") + "\n\n\n" + test
    entry = "test_" + name.replace(".", "_").lower()
    if not fits(program, entry):
        return []
    prog = Program(program, entry, [], [], provenance)
    kept, _ = trace_program(prog, [""], 1)
    return [project_row(program, trace, {**provenance, "kind": "test", "test": entry}) for _, trace in kept]


# -- 5f. multi-file functions ----------------------------------------------------------------------------------


def _project_imports(tree: ast.Module, package: str, here: str):
    """(statement, dotted module) of each import of the package in a module named ``here``."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[:-node.level] if node.level else []
                dotted = ".".join(base + ([node.module] if node.module else []))
            else:
                dotted = node.module or ""
            if dotted.split(".")[0] == package:
                yield node, dotted
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == package:
                    yield node, a.name


def _file_of(root: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under ``root``: ``a/b.py`` or ``a/b/__init__.py``."""
    parts = dotted.split(".")
    for path in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if path.is_file():
            return path
    return None


def needed_files(package: str, module: str) -> list[Path]:
    """The package's files that importing ``module`` reads: the modules its imports of the package
    name (and the submodules a ``from pkg import sub`` names), followed through, with the
    ``__init__.py`` of every package on the way; relative to the folder above the package."""
    root = Path(importlib.import_module(package).__file__).parent.parent
    parsed: dict[Path, None] = {}
    todo = [module]
    while todo:
        dotted = todo.pop()
        path = _file_of(root, dotted)
        if path is None or path in parsed:
            continue
        parsed[path] = None
        parts = dotted.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]  # the packages on the way
        here = dotted + ".__init__" if path.name == "__init__.py" else dotted
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        for node, target in _project_imports(tree, package, here):
            todo.append(target)
            if isinstance(node, ast.ImportFrom):
                todo += [f"{target}.{a.name}" for a in node.names if a.name != "*"]
    return [p.relative_to(root) for p in parsed]


def make_project(package: str, module: str, folder: Path) -> Path:
    """A project folder (``pyproject.toml`` and the needed files of the package) under ``folder``;
    returns the traced module's path in it."""
    root = Path(importlib.import_module(package).__file__).parent.parent
    for rel in needed_files(package, module):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, folder / rel)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{package}-corpus"\nversion = "0"\n')
    path = folder.joinpath(*module.split(".")).with_suffix(".py")
    return path if path.is_file() else folder.joinpath(*module.split("."), "__init__.py")


@contextlib.contextmanager
def imported_from(folder: Path, package: str):
    """The package imported from ``folder`` instead of site-packages, for the ``with`` block.

    The traced child is forked from this process and may read no file (the I/O guard), so the
    project's modules are imported here first; the installed package comes back afterwards."""
    saved = {k: v for k, v in sys.modules.items() if k == package or k.startswith(package + ".")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for k in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
            del sys.modules[k]
        sys.modules.update(saved)


def _context_ok(text: str, package: str) -> bool:
    """A context a training program may be: its imports are the package's or allowed standard-library
    ones, it uses no banned built-in and no star import."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return False
            ours = isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == package)
            ours = ours or isinstance(node, ast.Import) and all(a.name.split(".")[0] == package for a in node.names)
            if not ours and not _import_ok(node):
                return False
        elif isinstance(node, ast.Name) and node.id in BANNED_BUILTINS:
            return False
    return True


def _covered(context, trace) -> str | None:
    """'outside_context' when a frame's line is not in what the model reads."""
    for f in trace.frames:
        if f.file != "<call>" and context.context_line(f.file, f.line) is None:
            return "outside_context"
    return None


def multi_file_rows(module_name: str, provenance: dict, rng: random.Random, per_function: int, tries: int,
                    with_tests: bool) -> tuple[list[dict], list[dict]]:
    """(multi-file rows, test rows) of the module's functions that reach other modules of its package
    (a function whose context names one file is left to the plain kind)."""
    package = provenance["package"]
    try:
        mod = importlib.import_module(module_name)
        tree = ast.parse(Path(inspect.getsourcefile(mod)).read_text(encoding="utf-8"))
    except (ImportError, OSError, TypeError, SyntaxError, UnicodeDecodeError, ValueError):
        return [], []
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
             and not n.decorator_list and not _is_generator(n)]
    if not names or not any(_project_imports(tree, package, module_name)):
        return [], []
    rows, tests = [], []
    with tempfile.TemporaryDirectory(prefix="neurodebug-corpus-") as tmp:
        folder = Path(tmp).resolve()
        path = make_project(package, module_name, folder)
        with imported_from(folder, package):
            try:
                live = importlib.import_module(module_name)
            except Exception:  # noqa: BLE001 - a package that does not import from its own files
                return [], []
            for name in names:
                where = {**provenance, "module": module_name, "function": name}
                got = _multi_file_function(path, folder, live, name, tree, where, rng, per_function, tries)
                rows += got
                if with_tests and got:
                    tests += _multi_file_test(path, folder, got[0], where)
    return rows, tests


def _multi_file_function(path: Path, folder: Path, live, name: str, tree: ast.Module, provenance: dict,
                         rng: random.Random, per_function: int, tries: int) -> list[dict]:
    from neurodebug.real.sandbox import run_forked
    from neurodebug.real.tracer import trace_source
    from neurodebug.trace.context import build
    from neurodebug.trace.source import read_source

    source = read_source(path)
    context = build(path, source, folder, name, None, lambda text: fits(text, name), read_source)
    if len({p.file for p in context.pieces}) < 2 or not _context_ok(context.text, provenance["package"]):
        return []
    params = _params(getattr(live, name, None))
    if params is None:
        return []
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    prog = Program(source, name, params, doctest_calls(ast.get_docstring(fn) or "", name), provenance)

    def run(call):
        return trace_source(source, name, call, limits(), filename=str(path), runner=run_forked)

    inputs = candidate_inputs(prog, rng, tries)
    kept, _ = trace_program(prog, inputs, len(inputs), run=run, check=lambda trace: _covered(context, trace))
    kept.sort(key=lambda pair: -len({f.file for f in pair[1].frames}))  # runs that enter another file first
    return [project_row(context.text, trace, {**provenance, "kind": "multi-file"}) for _, trace in kept[:per_function]]


def _multi_file_test(path: Path, folder: Path, first: dict, provenance: dict) -> list[dict]:
    """A test function for a multi-file function, in a test file of the project importing it."""
    from neurodebug.real.sandbox import run_forked
    from neurodebug.real.tracer import trace_source
    from neurodebug.trace.context import build
    from neurodebug.trace.frames import End
    from neurodebug.trace.source import read_source

    name, module = provenance["function"], provenance["module"]
    end = End(**{k: first["end"].get(k) for k in ("reason", "message", "value", "line")})
    test = test_source(name, f"{name}({first['call']})", end)
    if test is None:
        return []
    test_path = folder / "tests" / f"test_{name}.py"
    test_path.parent.mkdir(exist_ok=True)
    source = f"from {module} import {name}\n\n\n" + test
    test_path.write_text(source)
    entry = f"test_{name}"
    context = build(test_path, source, folder, entry, None, lambda text: fits(text, entry), read_source)
    if not _context_ok(context.text, provenance["package"]):
        return []
    prog = Program(source, entry, [], [], provenance)

    def run(call):
        return trace_source(source, entry, call, limits(), filename=str(test_path), runner=run_forked)

    kept, _ = trace_program(prog, [""], 1, run=run, check=lambda trace: _covered(context, trace))
    return [project_row(context.text, trace, {**provenance, "kind": "test", "test": entry}) for _, trace in kept]


# -- 5g. a module's rows ---------------------------------------------------------------------------------------


def _preload_sandbox() -> None:
    """Import here what the traced child imports for a call expression or a project file
    (``sandbox.project_files`` reads ``sysconfig``'s paths), so that the child reads no file."""
    import sysconfig

    sysconfig.get_paths()


def module_rows(module: str, provenance: dict, rng: random.Random, per_function: int, tries: int, kinds) -> list[dict]:
    """The rows of one module for the kinds asked: plain functions, methods, call sequences,
    multi-file functions, tests."""
    _preload_sandbox()
    rows = []
    tests = "test" in kinds
    if "function" in kinds or tests:
        for prog in extract_programs(module, provenance):
            _preimport(prog.source)
            kept, _ = trace_program(prog, candidate_inputs(prog, rng, tries), per_function)
            if "function" in kinds:
                rows += [_row(prog.source, prog.entry, call, tr, prog.provenance, None) for call, tr in kept]
            if tests and kept:
                call, tr = kept[0]
                rows += test_rows(prog.source, prog.entry, f"{prog.entry}({call})", tr.end, prog.provenance)
    if "method" in kinds or "sequence" in kinds or tests:
        for prog in extract_classes(module, provenance):
            _preimport(prog.source)
            kept = method_traces(prog, rng, per_function, tries)
            if "method" in kinds:
                rows += method_rows(prog, kept)
            if "sequence" in kinds:
                rows += sequence_rows(prog, kept, _side_rng(rng), tries)
            if tests and kept:
                method, expression, tr = kept[0]
                rows += test_rows(prog.source, method.provenance["function"], expression, tr.end, method.provenance)
    if "multi-file" in kinds and provenance["package"] != "stdlib":
        multi, multi_tests = multi_file_rows(module, provenance, rng, per_function, tries, tests)
        rows += multi + multi_tests
    return rows


# -- the builder ----------------------------------------------------------------------------------------------


def sources(packages: list[str], stdlib: list[str]) -> list[tuple[str, dict]]:
    """(module, provenance) of every module to extract from; packages that are not installed are skipped."""
    out = []
    for pkg in packages:
        dist, modules = PACKAGES[pkg]
        try:
            meta = importlib.metadata.metadata(dist)
            version = meta["Version"]
        except importlib.metadata.PackageNotFoundError:
            continue
        lic = meta.get("License-Expression") or (meta.get("License") or "").split("\n")[0] or next(
            (c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")), "unknown")
        prov = {"package": pkg, "distribution": dist, "version": version, "license": lic}
        if modules is None:
            root = Path(importlib.import_module(pkg).__file__).parent
            modules = sorted(f"{pkg}." + ".".join(p.relative_to(root).with_suffix("").parts)
                             for p in root.rglob("*.py") if p.name != "__init__.py" and "test" not in p.as_posix())
        out += [(m, prov) for m in modules]
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    for m in stdlib:
        out.append((m, {"package": "stdlib", "distribution": "python", "version": py, "license": "PSF-2.0"}))
    return out


def _build_work(task) -> list[dict]:
    """Worker: trace the programs of one module (or one batch of built-in programs) into records."""
    kind, what, prov, seed, per_function, tries, kinds = task
    _install_guard()
    rng = random.Random(f"{seed}:{what}")
    rows = []
    if kind == "module" and set(kinds) - {"function", "builtins"}:
        rows = module_rows(what, prov, rng, per_function, tries, kinds)
    elif kind == "module":
        for prog in extract_programs(what, prov):
            _preimport(prog.source)
            kept, why = trace_program(prog, candidate_inputs(prog, rng, tries), per_function)
            rows += [_row(prog.source, prog.entry, call, tr, prog.provenance, why) for call, tr in kept]
    else:
        start, stop = what
        for i in range(start, stop):
            r = random.Random(f"{seed}:builtins:{i}")
            src, entry, args, sub = builtin_program(r, i)
            prog = Program(src, entry, [], [], {**prov, "module": sub, "function": entry})
            kept, why = trace_program(prog, list(dict.fromkeys(args)), 2)
            rows += [_row(src, entry, call, tr, prog.provenance, why) for call, tr in kept]
    return rows


def _row(source, entry, call, trace, provenance, why) -> dict:
    return {"id": f"{provenance['package']}:{provenance['module']}:{entry}:{zlib.crc32(call.encode()) % 10**8}",
            "provenance": provenance, **trace.to_json_dict()}


def build(out: Path, packages: list[str], stdlib: list[str], heldout: list[str], builtins_n: int, jobs: int = 1,
          seed: int = 0, per_function: int = 6, tries: int = 24, log=print,
          kinds: tuple[str, ...] = ("function", "builtins")) -> dict:
    """Build ``out/train.jsonl`` (traces), ``out/heldout.jsonl`` (the held-out packages' traces),
    ``out/real_heldout.jsonl`` (the held-out suite: plain functions only) and
    ``out/calibration.jsonl`` (the calibration split's functions and methods, as suite records,
    kept out of train.jsonl: :func:`in_calibration`) and ``out/calibration_packages.jsonl`` (the
    same of ``CALIBRATION_PACKAGES``, never trained on either); returns counts by
    package, and writes ``out/kinds.json`` (traces by package and kind).

    ``kinds``: ``function`` and ``builtins`` (the default build), ``method``, ``sequence``,
    ``multi-file`` and ``test`` (project code: section 5)."""
    import multiprocessing as mp

    out.mkdir(parents=True, exist_ok=True)
    modules = sources(packages, stdlib) if set(kinds) - {"builtins"} else []
    tasks = [("module", m, prov, seed, per_function, tries, tuple(kinds)) for m, prov in modules]
    bprov = {"package": "builtins", "distribution": "neurodebug", "version": "", "license": "MIT"}
    step = 25
    builtins_n = builtins_n if "builtins" in kinds else 0
    tasks += [("builtins", (a, min(a + step, builtins_n)), bprov, seed, 2, 3, ()) for a in range(0, builtins_n, step)]
    counts: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    names = ("train.jsonl", "heldout.jsonl", "real_heldout.jsonl", "calibration.jsonl", "calibration_packages.jsonl")
    files = {name: open(out / name, "w", encoding="utf-8") for name in names}
    try:
        with ctx.Pool(max(1, jobs), maxtasksperchild=20) as pool:
            for rows in pool.imap(_build_work, tasks):
                for r in rows:
                    pkg = r["provenance"]["package"]
                    counts[pkg] = counts.get(pkg, 0) + 1
                    kind = r["provenance"].get("kind", "function" if pkg != "builtins" else "builtins")
                    by_kind.setdefault(pkg, {})[kind] = by_kind.get(pkg, {}).get(kind, 0) + 1
                    line = json.dumps(r, ensure_ascii=False) + "\n"
                    if pkg in heldout:
                        files["heldout.jsonl"].write(line)
                        if kind == "function":  # the suite's records are one-file functions
                            files["real_heldout.jsonl"].write(json.dumps(suite_record(r), ensure_ascii=False) + "\n")
                    elif pkg in CALIBRATION_PACKAGES:
                        if kind in ("function", "method"):
                            files["calibration_packages.jsonl"].write(json.dumps(suite_record(r), ensure_ascii=False) + "\n")
                    elif in_calibration(r["provenance"]):
                        # one-file programs, as eval runs them: a sequence is no call expression
                        # that eval can run (it stays out of training all the same)
                        if kind in ("function", "method"):
                            files["calibration.jsonl"].write(json.dumps(suite_record(r), ensure_ascii=False) + "\n")
                    else:
                        files["train.jsonl"].write(line)
                if rows:
                    log(f"{rows[0]['provenance']['module']}: {len(rows)} traces")
    finally:
        for fh in files.values():
            fh.close()
    (out / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    (out / "kinds.json").write_text(json.dumps(by_kind, indent=1, sort_keys=True) + "\n")
    return counts


def in_calibration(provenance: dict) -> bool:
    """Whether a trace of a training package belongs to the calibration split: the hash of its
    package, module and function (a method's class) picks one in ``CALIBRATION_EVERY``, so every
    trace of a chosen function, its tests and its class's other methods included, stays out of
    training. Generated built-in programs never do (they are not real code)."""
    if provenance["package"] == "builtins":
        return False
    name = str(provenance.get("function", "")).split(".")[0]
    key = f"{provenance['package']}:{provenance['module']}:{name}"
    return zlib.crc32(key.encode()) % CALIBRATION_EVERY == 0


def suite_record(row: dict) -> dict:
    """The ``neurodebug eval`` record of a corpus trace (its provenance kept alongside)."""
    return {"id": row["id"], "code": row["source"], "input": row["call"], "entry": row["entry"],
            "output": (row.get("end") or {}).get("value"), "provenance": row["provenance"]}


def add_arguments(p) -> None:
    p.add_argument("--out", required=True, help="directory for train.jsonl, heldout.jsonl, real_heldout.jsonl, calibration.jsonl, counts.json")
    p.add_argument("--packages", nargs="*", default=sorted(PACKAGES), help=f"packages to use (default: {' '.join(sorted(PACKAGES))})")
    p.add_argument("--stdlib", nargs="*", default=STDLIB, help="standard-library modules to use")
    p.add_argument("--heldout", nargs="*", default=HELDOUT, help=f"packages kept out of training (default: {' '.join(HELDOUT)})")
    p.add_argument("--builtins", type=int, default=3000, help="generated programs over the built-in types")
    p.add_argument("--per-function", type=int, default=6, help="inputs kept per function")
    p.add_argument("--tries", type=int, default=24, help="inputs tried per function")
    p.add_argument("--jobs", type=int, default=1, help="worker processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", nargs="*", default=list(DEFAULT_KINDS), choices=KINDS,
                   help="kinds of trace: function and builtins (the default), method (a class's constructor and "
                        "method as a call expression), sequence (one instance through two or three method calls, "
                        "in the call function), multi-file (a package function reaching its other "
                        "modules, on the multi-file context), test (a test function around a kept run)")


def run(args) -> int:
    from neurodebug.errors import UserError

    unknown = [p for p in list(args.packages) + list(args.heldout) if p not in PACKAGES]
    if unknown:
        raise UserError(f"Unknown package {unknown[0]!r}; the corpus knows {', '.join(sorted(PACKAGES))}.")
    counts = build(Path(args.out), list(dict.fromkeys(list(args.packages) + list(args.heldout))), args.stdlib,
                   args.heldout, args.builtins, args.jobs, args.seed, args.per_function, args.tries,
                   kinds=tuple(args.kinds))
    total = sum(counts.values())
    held = sum(n for p, n in counts.items() if p in args.heldout)
    print(f"{total - held} training traces, {held} held-out -> {args.out}")
    for p, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {p}: {n}")
    return 0
