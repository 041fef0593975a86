"""Real runs: run a Python function in a child process under limits and record its CWM trace.

``trace_file`` / ``trace_source`` run the traced module (``__name__`` is the file's stem, never
``"__main__"``; a module inside a package is imported as part of it under its dotted name, its
project root first on sys.path: :func:`neurodebug.trace.source.project_of`) in a child (:mod:`.sandbox`), call the entry function there under the
recorder's hooks (:mod:`.recorder`), and return a :class:`~neurodebug.trace.frames.Trace`.
A crash, a timeout or an infinite loop ends the trace with a reason; it never takes the caller
down. What the frames hold, and every choice the format leaves open: docs/trace-format.md.
"""

from __future__ import annotations

import ast
import os
from dataclasses import asdict, dataclass

from neurodebug.real import sandbox
from neurodebug.real.recorder import RECURSION_NOTE, LocalsDecoder
from neurodebug.trace.format import MAX_REPR_CHARS, REPR_CUT
from neurodebug.errors import UserError
from neurodebug.trace.context import CALL_ENTRY, CALL_FILE, call_function
from neurodebug.trace.frames import End, Frame, Trace
from neurodebug.trace.source import (BadCall, NoSuchFunction, Project, project_of, read_source, resolve_call,
                                     source_lines, trace_root)


@dataclass
class Limits:
    """Resource limits of one traced run; each has a CLI flag in `neurodebug trace`."""

    wall_s: float = 10.0  # wall-clock time, enforced by the parent (kills the child)
    cpu_s: float = 10.0  # CPU time (RLIMIT_CPU in the child)
    memory_mb: int = 1024  # address space (RLIMIT_AS in the child)
    max_frames: int = 10_000  # frames recorded before the trace is ended
    max_repr: int = MAX_REPR_CHARS  # characters of one repr before it is cut
    max_output: int = 65536  # bytes of captured stdout and of stderr, each
    isolation: str = "auto"  # bwrap, none, or auto: bwrap where it can start (neurodebug.real.isolation)
    disk_mb: int = 64  # isolated: size of the private scratch dir + /tmp and of /dev/shm (in memory)
    max_processes: int = 64  # isolated: processes of the run (RLIMIT_NPROC; the kernel exempts root)


# -- the parent side: run, then turn the child's messages into a Trace -----------------------------


def _def_lines(tree: ast.Module) -> dict[int, int]:
    """first-decorator line -> def line, for decorated functions (call frames show the def)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
            out[min(d.lineno for d in node.decorator_list)] = node.lineno
    return out


#: Characters of a value in an end sentence: a returned value, and an exception (whose one-line repr
#: is kept whole unless it is very long).
SHORT_VALUE, SHORT_EXCEPTION = 60, 200


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _short(text: str, n: int = SHORT_VALUE) -> str:
    """``text``, or its first ``n`` characters or fewer cut at a word boundary and marked cut with
    REPR_CUT (a word is split only when it is longer than half of ``n``)."""
    if len(text) <= n:
        return text
    i = n
    while i > n // 2 and _is_word(text[i - 1]) and _is_word(text[i]):
        i -= 1
    if i <= n // 2:
        i = n
    return text[:i].rstrip() + " " + REPR_CUT


#: The sentence that ends a real run, by reason (format fields: call, value shortened, at: " at line
#: N" where known, limits, name: the file's, entry). "exited" and "crashed" depend on more.
_END_SENTENCES = {
    "returned": "{call} returned {value}.",
    "raised": "{call} raised {value}{at}.",
    "memory_limit": "The traced code ran out of memory (limit {limits.memory_mb} MB){at}.",
    "frame_limit": "The trace reached the limit of {limits.max_frames} frames.",
    "timeout": "The traced code ran longer than the wall-time limit of {limits.wall_s:g} s.",
    "cpu_limit": "The traced code used more than the CPU-time limit of {limits.cpu_s:g} s.",
    "no_such_function": "There is no function named {entry!r} in {name}.",
    "bad_call": "Evaluating the arguments of {call} raised {value}.",
    "import_error": "Running the module {name} raised {value}{at}.",
}


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _consumed_message(reason: str, d: dict, call_text: str, limits: Limits) -> str | None:
    """The end sentence of an entry that is a generator or a coroutine (sandbox._consume), or None."""
    kind, n = d.get("kind"), d.get("yielded", 0)
    if kind is None or reason not in ("returned", "raised", "frame_limit"):
        return None
    at = f" at line {d['line']}" if d.get("line") else ""
    raised = f"raised {_short(d.get('value') or '', SHORT_EXCEPTION)}{at}"
    if kind == "coroutine":
        if reason == "frame_limit":
            return f"{call_text} is a coroutine: it ran under asyncio.run until the trace reached the limit of {limits.max_frames} frames."
        done = f"returned {_short(d.get('value') or '')}" if reason == "returned" else raised
        return f"{call_text} is a coroutine: it ran under asyncio.run and {done}."
    how = " under asyncio.run" if kind == "async generator" else ""
    article = "an" if kind[0] in "aeiou" else "a"
    head = f"{call_text} is {article} {kind}: it was run{how}"
    if reason == "frame_limit":
        return f"{head} until the trace reached the limit of {limits.max_frames} frames, after yielding {_values(n)}."
    if reason == "raised":
        return f"{head}, yielded {_values(n)} and {raised}."
    return f"{head} to its end and yielded {_values(n)}: {_short(d.get('value') or '')}."


#: End reasons that can come while the traced module is imported, before the entry is called; their
#: sentence then says so (the child tells when the import is done: sandbox.IMPORTED).
_WHILE_IMPORTING = ("timeout", "cpu_limit", "memory_limit", "exited", "crashed")


def _end_message(reason: str, d: dict, call_text: str, limits: Limits, name: str) -> str:
    consumed = _consumed_message(reason, d, call_text, limits)
    if consumed is not None:
        return consumed
    value, line = d.get("value"), d.get("line")
    at = f" at line {line}" if line else ""
    if reason == "import_error" and d.get("file"):  # raised in another file of the project
        there = f"{d['file']}" + (f" at line {d['file_line']}" if d.get("file_line") else "")
        at = f"{at} (in {there})" if line else f" in {there}"
    if reason == "import_error" and d.get("how") == "sys.exit":
        return f"Running the module {name} called sys.exit({_short(value or '', SHORT_EXCEPTION)}){at}."
    if reason == "exited":
        if d.get("how") == "sys.exit":
            return f"{call_text} called sys.exit({_short(value or '', SHORT_EXCEPTION)}){at}."
        return f"The traced code ended the process with exit status {value}."
    if reason in _END_SENTENCES:
        n = SHORT_VALUE if reason == "returned" else SHORT_EXCEPTION
        return _END_SENTENCES[reason].format(call=call_text, value=_short(value or "", n), at=at, limits=limits,
                                             name=name, entry=d.get("entry"))
    if reason == "crashed":
        return d.get("message") or "The traced process crashed."
    return d.get("message") or reason


def trace_source(source: str, entry: str | None, call: str | None, limits: Limits = Limits(),
                 filename: str = "<string>", runner=None) -> Trace:
    """Trace ``entry(call)`` from ``source`` in a child process; see the module docstring.

    Never raises for problems of the traced code or the call: those end the Trace with a
    reason and one sentence (``trace.end``). ``filename`` names the source in messages;
    a real path also lets the traced module import its neighbours. ``runner`` runs the job
    (:func:`.sandbox.run` by default; :func:`.sandbox.run_forked` for generated training programs).
    """
    limits = limits or Limits()
    runner = runner or sandbox.run
    name = os.path.basename(filename) if not filename.startswith("<") else "the source"
    try:
        entry, args = resolve_call(source, entry, call, name if name != "the source" else None)
        bad = None
    except (NoSuchFunction, BadCall) as e:
        bad, args = e, call
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as e:
        msg = (e.msg or "invalid syntax").rstrip(".")
        end = End("syntax_error", f"{name} has a syntax error at line {e.lineno}: {msg}.", line=e.lineno)
        return Trace(source, entry or "", args, end=end)
    except (ValueError, RecursionError, MemoryError) as e:
        return Trace(source, entry or "", args, end=End("syntax_error", f"{name} cannot be parsed ({type(e).__name__})."))
    if bad is not None:
        reason = "no_such_function" if isinstance(bad, NoSuchFunction) else "bad_call"
        return Trace(source, entry or "", call, end=End(reason, str(bad)))

    # a pseudo file name must not collide with code that exec() makes, such as dataclass methods
    # a real path is made absolute: the child works in another folder (a session may pass a relative one)
    code_name = os.path.abspath(filename) if not filename.startswith("<") else f"<neurodebug {filename.strip('<>')}>"
    stem = os.path.splitext(os.path.basename(filename))[0] if not filename.startswith("<") else ""
    project = project_of(filename) if not filename.startswith("<") else Project(None, None, None)
    expression = args if entry == CALL_ENTRY else None
    root = trace_root(filename) if not filename.startswith("<") else None
    spec = {
        "source": source,
        "filename": code_name,
        "module": project.module or (stem if stem.isidentifier() else "__traced__"),
        "package": project.module is not None,  # imported under its dotted name, as part of its package
        "is_package": project.is_package,
        "sys_path": project.sys_path(os.path.dirname(os.path.abspath(filename))) if not filename.startswith("<") else [],
        "root": project.root,
        "trace_root": root,
        "entry": entry,
        "args": "" if expression is not None else args,
        "call_function": call_function(expression) if expression is not None else None,
        "limits": asdict(limits),
    }
    if project.module is not None:
        name = project.module  # the sentences name a package's module by its dotted name
    result = runner(spec, limits)

    files = _Files(code_name, source, root, expression)
    frames: list[Frame] = []
    end_msg = None
    imported = False
    decoder = LocalsDecoder()
    for msg in result.messages:
        if isinstance(msg, dict):
            if "reason" in msg:
                end_msg = msg
            else:
                imported = imported or msg == sandbox.IMPORTED
            continue
        event, line, depth, func, loc, arg, code_file = decoder.decode(msg)
        file = files.name(code_file)
        if event == "call":
            line = files.def_line(file, line)
        frames.append(Frame(event, line, files.line_text(file, line), loc, arg, depth, func, file=file))

    call_text = _short(expression if expression is not None else f"{entry}({args})")
    if result.timed_out:
        d = {"reason": "timeout"}
    elif result.cpu_exceeded:
        d = {"reason": "cpu_limit"}
    elif end_msg is not None:
        d = end_msg
    elif result.signal is not None:
        d = {"reason": "crashed", "message": f"The traced process was killed by signal {result.signal}."}
    elif result.returncode is not None:
        d = {"reason": "exited", "value": str(result.returncode)}
    else:
        d = {"reason": "crashed"}
    reason = d["reason"]
    message = _end_message(reason, d, call_text, limits, name)
    if d.get("lost") == "recursion":
        message = message[:-1] + RECURSION_NOTE + "."
    if result.started and not imported and reason in _WHILE_IMPORTING and (end_msg is None or reason == "memory_limit"):
        message = message[:-1] + f" while the module {name} was being imported."
    end = End(reason, message, d.get("value"), d.get("line"))
    return Trace(source, entry, args, frames, end, result.stdout, result.stderr)


class _Files:
    """The files a real run's frames are in: each code file's name relative to the project root
    (Frame.file), its lines, and the def line of its decorated functions (call frames show it)."""

    def __init__(self, code_name: str, source: str, root: str | None, expression: str | None):
        self.main, self.root = code_name, root
        self.texts: dict[str | None, str] = {self.name(code_name): source}
        if expression is not None:
            self.texts[CALL_FILE] = call_function(expression)
        self._defs: dict[str | None, dict[int, int]] = {}

    def name(self, code_name: str | None) -> str | None:
        """Frame.file of a code object's file name (the traced file's when None)."""
        code_name = code_name or self.main
        if code_name == sandbox.CALL_CODE_NAME:
            return CALL_FILE
        if code_name.startswith("<"):
            return None
        return os.path.relpath(code_name, self.root).replace(os.sep, "/") if self.root else os.path.basename(code_name)

    def text(self, file: str | None) -> str:
        if file not in self.texts:
            try:
                self.texts[file] = read_source(os.path.join(self.root, file)) if self.root and file else ""
            except UserError:
                self.texts[file] = ""
        return self.texts[file]

    def line_text(self, file: str | None, line: int) -> str:
        lines = source_lines(self.text(file))
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def def_line(self, file: str | None, line: int) -> int:
        if file not in self._defs:
            try:
                self._defs[file] = _def_lines(ast.parse(self.text(file)))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                self._defs[file] = {}
        return self._defs[file].get(line, line)


def trace_file(path: str | os.PathLike, entry: str | None, call: str | None, limits: Limits = Limits()) -> Trace:
    """Trace ``entry(call)`` from the Python file at ``path``; a bad path raises UserError."""
    path = os.fspath(path)
    source = read_source(path)  # honours a PEP 263 coding line, as Python does
    return trace_source(source, entry, call, limits, filename=os.path.abspath(path))
