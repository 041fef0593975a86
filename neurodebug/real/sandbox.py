"""Runs traced code in a child process under limits, and streams its frames back.

Parent side: :func:`run` starts ``python -u -P -m neurodebug.real.sandbox FD`` in a new session,
inside bubblewrap where the run is isolated (:mod:`.isolation`), writes the job (JSON) to the
child's stdin, and then reads three pipes until the child is
gone: the child's stdout and stderr (each kept up to ``Limits.max_output`` bytes, the rest
counted and dropped) and the frame pipe FD. It kills the whole process group when the
wall-time limit passes (counted from the child's "ready" line, so a slow interpreter start
on a busy machine does not eat into it).

Child side: :func:`main` reads the job, points stdin at /dev/null (``input()`` sees end of
file), sets RLIMIT_CPU, RLIMIT_AS and RLIMIT_CORE=0 (and RLIMIT_NPROC when isolated), executes the module, evaluates the
arguments, and calls the entry under a :class:`neurodebug.real.recorder.Recorder`. Every frame is
written to the frame pipe as one JSON line the moment it is recorded, so the frames of a
child that is later killed (timeout, CPU limit, a crash, ``os._exit``) are all kept. The
last line is a JSON object ``{"reason": ...}`` when the child itself knows how the run ended.
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import sys
import sysconfig  # here, not in project_files: a run's audit hook may refuse the file reads of an import
import time
import types
from dataclasses import dataclass, field

#: The folder that holds the neurodebug package, so the child imports this same neurodebug.
_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: Appended to captured stdout/stderr cut at ``Limits.max_output`` bytes.
OUTPUT_CUT = "\n...<output cut: {} more bytes>"
_PIPE_SIZE = 1 << 20  # bytes of frames the child can write ahead of the parent
_STARTUP_S = 10.0  # seconds a child may take to start before the wall-time limit begins
_BATCH_S = 0.002  # the parent reads at most this often, so a busy child is not woken per frame
#: The message the child sends once the traced module is imported (a dict without "reason").
IMPORTED = {"imported": True}


@dataclass
class ChildResult:
    messages: list = field(default_factory=list)  # frames (lists), IMPORTED and at most one end (dicts)
    started: bool = False  # the child got ready to run the traced code
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None  # exit status when the child exited by itself
    signal: str | None = None  # signal name when it was killed by one (and not by us)
    timed_out: bool = False  # the parent killed it at the wall-time limit
    cpu_exceeded: bool = False  # the kernel stopped it at RLIMIT_CPU


class _Capped:
    """Keeps the first ``cap`` bytes written to it and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.dropped = cap, [], 0, 0

    def add(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self.parts.append(data[:room])
            self.size += min(room, len(data))
        self.dropped += max(0, len(data) - max(room, 0))

    def text(self) -> str:
        out = b"".join(self.parts).decode("utf-8", errors="replace")
        return out + (OUTPUT_CUT.format(self.dropped) if self.dropped else "")


def run(spec: dict, limits) -> ChildResult:
    """Run one job (see neurodebug.real.tracer.trace_source) in a child; never raises for its faults."""
    result = ChildResult()
    r_fd, w_fd = _frame_pipe()
    try:
        proc, isolated, spec = _start(spec, limits, w_fd)
    except OSError as e:
        os.close(r_fd)
        result.messages.append({"reason": "crashed", "message": f"The tracer could not start its child process ({e})."})
        return result
    except BaseException:
        os.close(r_fd)
        raise
    finally:
        os.close(w_fd)
    frames, ready, usage = _collect(proc, r_fd, spec, limits, result)
    result.started = ready
    _read_frames(frames, result)
    _read_exit(proc.returncode, isolated, ready, usage, limits, result)
    return result


def _frame_pipe() -> tuple[int, int]:
    """The pipe the child writes frames to; a roomy one lets the parent read in batches (fewer
    wake-ups) without stalling the child."""
    r_fd, w_fd = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w_fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass
    return r_fd, w_fd


def _start(spec: dict, limits, w_fd: int):
    """(process, isolated, spec as sent): the child, inside bubblewrap where the run is isolated."""
    import subprocess  # parent-only imports: the child starts faster without them

    from neurodebug.real import isolation

    env = dict(os.environ)
    env["PYTHONPATH"] = _PKG_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("PYTHONSTARTUP", None)
    # -P: the current directory must not shadow modules that the sandbox itself imports
    argv = [sys.executable, "-u", "-P", "-m", "neurodebug.real.sandbox", str(w_fd)]
    isolated = isolation.use_bwrap(limits.isolation)  # a UserError where bwrap was asked for and cannot be
    if isolated:
        # what the child needs to start that the private /tmp could hide: its interpreter and packages
        needed = [*spec.get("sys_path", ()), _PKG_PARENT, sys.prefix, sys.base_prefix,
                  os.path.dirname(sys.executable), *sys.path]
        argv = isolation.command(argv, needed, limits.disk_mb)
        spec = {**spec, "isolated": True}
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=(w_fd,), env=env, start_new_session=True)
    return proc, isolated, spec


def _collect(proc, r_fd: int, spec: dict, limits, result: ChildResult):
    """Send the job, then read stdout, stderr and the frame pipe until the child is gone or the
    wall-time limit kills it; returns (frame bytes, whether the child got ready, its rusage)."""
    import selectors

    out, err = _Capped(limits.max_output), _Capped(limits.max_output)
    frames = bytearray()
    # the wall-time limit counts from the moment the child is ready to run the traced code (an
    # empty line on the frame pipe), not from the start of the interpreter, which a busy
    # machine can slow down; until then the child gets _STARTUP_S more
    deadline = time.monotonic() + limits.wall_s + _STARTUP_S
    ready = False
    usage = None
    try:
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        sel.register(r_fd, selectors.EVENT_READ, None)
        open_fds = 3
        stop_at = None  # once set: stop reading at this time
        while open_fds:
            now = time.monotonic()
            if stop_at is None:
                if now >= deadline:
                    result.timed_out = True
                    _kill(proc)
                    stop_at = now + 1.0  # drain what the pipes still hold
                elif _exited(proc):
                    stop_at = now + 0.5  # a grandchild may hold the pipes open
            elif now >= stop_at:
                _kill(proc)
                break
            wait = (deadline if stop_at is None else stop_at) - now
            for key, _ in sel.select(timeout=max(0.0, min(wait, 0.5))):
                try:
                    data = os.read(key.fd, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    open_fds -= 1
                elif key.data is None:
                    if not ready:
                        ready = True
                        if stop_at is None:
                            deadline = time.monotonic() + limits.wall_s
                    frames += data
                else:
                    key.data.add(data)
            if stop_at is None:
                time.sleep(_BATCH_S)
        sel.close()
        usage = _wait(proc, deadline, result)
    finally:
        if proc.poll() is None:
            _kill(proc)
            proc.wait()
        os.close(r_fd)
        for f in (proc.stdout, proc.stderr):
            f.close()
    result.stdout, result.stderr = out.text(), err.text()
    return bytes(frames), ready, usage


def _read_frames(frames: bytes, result: ChildResult) -> None:
    for line in frames.split(b"\n"):
        if not line:
            continue
        try:
            result.messages.append(json.loads(line))
        except ValueError:
            break  # the last line of a killed child may be cut off


def _read_exit(rc: int | None, isolated: bool, ready: bool, usage, limits, result: ChildResult) -> None:
    """How the child ended: its exit status, the signal that ended it, or the CPU limit."""
    from neurodebug.real import isolation

    if isolated and rc is not None and isolation.signal_of(rc):
        rc = -isolation.signal_of(rc)  # bwrap exits with 128 + the signal that ended its child
    if isolated and not ready and rc and result.stderr.startswith("bwrap:"):
        why = result.stderr.splitlines()[0].removeprefix("bwrap:").strip().rstrip(".")
        result.messages.append({"reason": "crashed", "message": f"bubblewrap could not start the run ({why})."})
    if result.timed_out:
        return
    cpu = usage.ru_utime + usage.ru_stime if usage is not None else 0.0
    # SIGXCPU comes only from RLIMIT_CPU's soft limit; SIGKILL also from its hard limit
    if rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and cpu >= limits.cpu_s - 0.05):
        result.cpu_exceeded = True
    elif rc is not None and rc < 0:
        result.signal = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
    else:
        result.returncode = rc


def _exited(proc) -> bool:
    """Whether the child has exited, without reaping it (its rusage is read later)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc, deadline: float, result: ChildResult):
    """Reap the child with its resource usage (to tell a CPU-limit kill from other kills)."""
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            proc.wait()
            return None
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline and not result.timed_out:
            result.timed_out = True  # it closed its pipes but kept running
            _kill(proc)
        time.sleep(0.005)


# -- the child ---------------------------------------------------------------------------------------


def frame_writer(fd: int):
    """The function that writes each recorded frame to the pipe at once (one JSON line)."""
    dumps, write = json.dumps, os.write

    def emit(msg) -> None:
        data = (dumps(msg) + "\n").encode()
        try:
            while data:
                data = data[write(fd, data):]
        except OSError:  # nobody reads the frames any more (the parent is gone)
            os._exit(1)

    return emit


def _send(fd: int, msg) -> None:
    data = (json.dumps(msg) + "\n").encode()
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _set_limits(limits: dict, isolated: bool = False) -> None:
    cpu = max(1, math.ceil(limits["cpu_s"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    mem = int(limits["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if isolated:  # counted in the run's own user namespace; without one it would count all the user's processes
        n = int(limits.get("max_processes", 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))


def _error_line(exc: BaseException, filename: str) -> int | None:
    """The last line of the traced file in the exception's traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    return line


def _error_place(exc: BaseException, root: str | None, filename: str) -> dict:
    """{"file": path relative to the project root, "file_line": N} where the last traceback frame
    in the project is in another file than the traced one (a package's ``__init__.py`` or a
    module it imports that raised, say), or {}."""
    if not root:
        return {}
    place = {}
    tb = exc.__traceback__
    root = os.path.join(root, "")
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name == filename:
            place = {}
        elif name.startswith(root):
            place = {"file": os.path.relpath(name, root), "file_line": tb.tb_lineno}
        tb = tb.tb_next
    return place


class _SourceLoader:
    """Loads the traced module from the source sent with the job (which the prediction sees too),
    not from the file on disk, under its dotted name in its package."""

    def __init__(self, spec: dict):
        self.spec = spec

    def create_module(self, module_spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        exec(compile(self.spec["source"], self.spec["filename"], "exec"), module.__dict__)

    def get_source(self, name: str) -> str:
        return self.spec["source"]

    def is_package(self, name: str) -> bool:
        return bool(self.spec.get("is_package"))


class _SourceFinder:
    """A sys.meta_path finder that answers only for the traced module's dotted name."""

    def __init__(self, spec: dict):
        self.spec, self.loader = spec, _SourceLoader(spec)

    def find_spec(self, name, path=None, target=None):
        if name != self.spec["module"]:
            return None
        import importlib.util

        filename = self.spec["filename"]
        where = [os.path.dirname(filename)] if self.spec.get("is_package") else None
        return importlib.util.spec_from_file_location(name, filename, loader=self.loader,
                                                      submodule_search_locations=where)


def _import_in_package(spec: dict) -> types.ModuleType:
    """Import the traced module as part of its package (its parents' ``__init__`` run first), so
    that its relative imports work; raises what the import raises."""
    import importlib

    name = spec["module"]
    sys.meta_path.insert(0, _SourceFinder(spec))
    # a module of the same name that the sandbox imported itself would stand in for the traced one
    sys.modules.pop(name, None)
    return importlib.import_module(name)


#: The file name the call function of a call expression (context.CALL_ENTRY) is compiled under.
CALL_CODE_NAME = "<neurodebug call>"


def project_files(spec: dict):
    """Which code files the recorder traces besides the traced file: the call function's, and the
    project's own files (under its root, or the traced file's folder), never the standard
    library, installed packages or neurodebug itself: those stay single steps."""
    root = spec.get("trace_root")
    if not root:
        return lambda name: name == CALL_CODE_NAME
    inside = root.rstrip(os.sep) + os.sep
    paths = sysconfig.get_paths()
    outside = tuple(dict.fromkeys(p.rstrip(os.sep) + os.sep for p in (
        paths.get("stdlib"), paths.get("platstdlib"), paths.get("purelib"), paths.get("platlib"),
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) if p))

    def traced(name: str) -> bool:
        return name == CALL_CODE_NAME or (name.startswith(inside) and not name.startswith(outside)
                                          and "site-packages" not in name and "dist-packages" not in name)
    return traced


def _run_job(spec: dict, fd: int) -> dict:
    """Execute the job; returns the end message. Frames are sent while it runs."""
    from neurodebug.real.recorder import Recorder, safe_repr

    limits = spec["limits"]
    filename, max_repr = spec["filename"], limits["max_repr"]

    emit = frame_writer(fd)

    consumed: dict = {}  # what the entry's result turned out to be (see _consume), sent with the end

    def frame_limit():
        _send(fd, {"reason": "frame_limit", **consumed})
        _flush_and_exit(0)

    try:
        if spec.get("package"):
            module = _import_in_package(spec)
        else:
            module = types.ModuleType(spec["module"])
            module.__file__ = filename
            # registered (dataclasses and pickle look modules up) unless the name is taken, e.g. json.py
            sys.modules.setdefault(spec["module"], module)
            code = compile(spec["source"], filename, "exec")
            exec(code, module.__dict__)
    except MemoryError as e:
        return {"reason": "memory_limit", "value": safe_repr(e, max_repr), "line": _error_line(e, filename)}
    except SystemExit as e:
        return {"reason": "import_error", "how": "sys.exit", "value": safe_repr(e.code, max_repr),
                "line": _error_line(e, filename), **_error_place(e, spec.get("root"), filename)}
    except BaseException as e:  # noqa: BLE001 - anything the module does at import time
        return {"reason": "import_error", "value": safe_repr(e, max_repr), "line": _error_line(e, filename),
                **_error_place(e, spec.get("root"), filename)}
    _send(fd, IMPORTED)  # an end without a message of the child's own (a timeout, os._exit) came later

    if spec.get("call_function"):  # a call expression runs in a function of its own (context.CALL_ENTRY)
        exec(compile(spec["call_function"], CALL_CODE_NAME, "exec"), module.__dict__)
    fn = module.__dict__.get(spec["entry"])
    if not callable(fn):
        return {"reason": "no_such_function", "entry": spec["entry"]}
    try:
        args, kwargs = eval(f"(lambda *a, **k: (a, k))({spec['args']}\n)", module.__dict__)
    except BaseException as e:  # noqa: BLE001 - the argument expression is user input
        return {"reason": "bad_call", "value": safe_repr(e, max_repr)}

    traced = project_files(spec)
    rec = Recorder(filename, emit, max_repr, limits["max_frames"], frame_limit, source=spec["source"],
                   traced_file=traced)
    rec.start()
    try:
        result = _consume(fn(*args, **kwargs), lambda name: name == filename or traced(name), consumed)
    except SystemExit as e:
        rec.stop()
        return {"reason": "exited", "how": "sys.exit", "value": safe_repr(e.code, max_repr),
                "line": _error_line(e, filename)}
    except MemoryError as e:
        rec.stop()
        return {"reason": "memory_limit", "value": safe_repr(e, max_repr), "line": _error_line(e, filename)}
    except BaseException as e:  # noqa: BLE001
        rec.stop()
        return {"reason": "raised", "value": safe_repr(e, max_repr), "line": _error_line(e, filename),
                "lost": rec.lost, **consumed}
    rec.stop()
    return {"reason": "returned", "value": safe_repr(result, max_repr), "lost": rec.lost, **consumed}


def _consume(result, traced, run: dict):
    """The entry's result as a caller would use it, still traced: a generator made by a generator
    function of the traced code (``traced``: its file names) is iterated to its end (the list of its values is the result), a
    coroutine runs under ``asyncio.run``, an async generator of the file is iterated under
    ``asyncio.run``. ``run`` gets the "kind" of entry and, for generators, how many values were
    "yielded" so far (read by the frame cap, which may end the run in the middle). A generator
    that never ends is stopped by the frame cap: each resumption records frames."""
    t = type(result)
    if t is types.CoroutineType:
        import asyncio

        run["kind"] = "coroutine"
        return asyncio.run(result)
    if t is types.GeneratorType and traced(result.gi_code.co_filename) and result.gi_code.co_name != "<genexpr>":
        run.update(kind="generator", yielded=0)
        values = []
        for value in result:
            values.append(value)
            run["yielded"] += 1
        return values
    if t is types.AsyncGeneratorType and traced(result.ag_code.co_filename):
        import asyncio

        run.update(kind="async generator", yielded=0)

        async def drain():
            values = []
            async for value in result:
                values.append(value)
                run["yielded"] += 1
            return values

        return asyncio.run(drain())
    return result


def _flush_and_exit(code: int) -> None:
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> None:
    import neurodebug.real.recorder  # noqa: F401 - imported before the traced file's directory joins sys.path

    argv = sys.argv[1:] if argv is None else argv
    fd = int(argv[0])
    spec = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdin = open(0, closefd=False)
    # as for a script its directory, or for a package's module its project root, comes first
    sys.path[:0] = spec.get("sys_path") or ([spec["path_dir"]] if spec.get("path_dir") else [])
    os.write(fd, b"\n")  # ready: the parent starts the wall clock now
    sys.argv = [spec["filename"]]
    try:
        _set_limits(spec["limits"], spec.get("isolated", False))
        end = _run_job(spec, fd)
    except MemoryError:
        end = {"reason": "memory_limit"}
    except BaseException as e:  # noqa: BLE001 - a fault of the sandbox itself
        end = {"reason": "crashed", "message": f"The tracer failed: {type(e).__name__}: {e}."}
    try:
        _send(fd, end)
    except OSError:
        pass
    _flush_and_exit(0)


if __name__ == "__main__":
    main()


def run_forked(spec: dict, limits) -> ChildResult:
    """:func:`run`'s job in a forked child of this process instead of a fresh interpreter.

    Starting an interpreter per trace costs far more than tracing a tiny generated function; a
    fork costs about a millisecond. For the training data's generated programs only, never user
    code: the child shares this process's state and gets only a CPU-time limit.
    """
    import select

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the job, send its end, vanish
        try:
            os.close(r)
            cpu = max(1, int(limits.cpu_s))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            end = _run_job(spec, w)
            _send(w, end)
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0)
    os.close(w)
    data = bytearray()
    deadline = time.monotonic() + limits.wall_s
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        ready, _, _ = select.select([r], [], [], left)
        if ready:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    res = ChildResult(started=True)
    for line in bytes(data).split(b"\n"):
        if line:
            try:
                res.messages.append(json.loads(line))
            except ValueError:
                break
    res.timed_out = timed_out
    code = os.waitstatus_to_exitcode(status)
    if not timed_out:
        if code < 0:
            res.signal = str(-code)
            res.cpu_exceeded = code in (-signal.SIGXCPU, -signal.SIGKILL)
        else:
            res.returncode = code
    return res
