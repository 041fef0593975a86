"""`neurodebug eval SUITE.jsonl`: how well a model predicts real executions, and a trivial baseline.

Each suite line is ``{"id", "code", "input" (argument expression), "output" (repr, optional),
"entry" (default "f")}``. For each record:

* the real trace (the tracer, in a child process);
* the free-running prediction: a :class:`neurodebug.session.Session` continued to the end
  (greedy; frame 0, the call with the real arguments, is the input; SOURCE constrained to
  lines of the file unless ``constrain=False``, see :mod:`neurodebug.constrain`), compared
  with :func:`neurodebug.compare.compare`;
* the teacher-forced scores (:func:`neurodebug.compare.teacher_forced`): every frame predicted
  from the real history;
* the trivial baseline, scored by the same code: it predicts the next line in source order
  with unchanged locals (free-running: walk the entry's lines top to bottom, then return
  None; teacher-forced: from each real frame, the next source line and the same locals).

Metrics are pooled over frames (state and action exact match count real frames after the call
frame; valid format counts predicted frames) and over records (output match).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from neurodebug.errors import UserError
from neurodebug.options import SessionOptions
from neurodebug.real.tracer import Limits
from neurodebug.trace.format import source_lines
from neurodebug.trace.frames import End, Frame, Trace

#: The prediction of one record stops after this many frames more than the real trace has.
EXTRA_FRAMES = 10
#: ... and never goes beyond this many frames.
MAX_FRAMES = 400
#: A predicted frame longer than this many tokens is cut off (and ends the prediction).
MAX_FRAME_TOKENS = 512


# -- suites ---------------------------------------------------------------------------------------


def load_suite(path: str, limit: int | None = None) -> list[dict]:
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise UserError(f"Cannot read the suite {path!r}: {e.strerror or e}.") from None
    records = []
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict) or not isinstance(d.get("code"), str) or not isinstance(d.get("input"), str):
                    raise ValueError
            except ValueError:
                raise UserError(f"Line {n} of {path} is not a suite record with \"code\" and \"input\".") from None
            if "files" in d and (why := _project_problem(d)):
                raise UserError(f"Line {n} of {path} has \"files\" but {why}.")
            d.setdefault("id", f"{os.path.basename(path)}:{n}")
            d.setdefault("entry", "f")
            records.append(d)
            if limit and len(records) >= limit:
                break
    if not records:
        raise UserError(f"The suite {path} has no records.")
    return records


def _project_problem(d: dict) -> str | None:
    """Why a record's project ("files": {relative path: text}, "path": the entry's file, whose text
    is "code") cannot be written to a folder and run, or None."""
    files, path = d.get("files"), d.get("path")
    if not isinstance(files, dict) or not files or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return "they are not an object of file paths to texts"
    bad = next((k for k in files if not _is_relative_inside(k)), None)
    if bad is not None:
        return f"the path {bad!r} is not relative inside the project"
    if not isinstance(path, str) or path not in files:
        return "\"path\" does not name one of them"
    if files[path] != d["code"]:
        return f"the text of {path!r} is not \"code\""
    return None


def _is_relative_inside(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and "\\" not in path and ":" not in path \
        and all(p not in ("", ".", "..") for p in parts)


def _write_project(folder: str, files: dict[str, str]) -> None:
    """The files under ``folder``, with a pyproject.toml that makes it the project root (unless
    the record has its own)."""
    for rel, text in files.items():
        target = os.path.join(folder, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    if "pyproject.toml" not in files:
        with open(os.path.join(folder, "pyproject.toml"), "w", encoding="utf-8") as fh:
            fh.write('[project]\nname = "suite-record"\nversion = "0"\n')


def _session_of(rec: dict, options: SessionOptions, predictor):
    """The session of a record: on its code alone, or, for a record with "files", on its entry
    file written with the rest of its project into a fresh folder (so that the model's context
    and the real run are the project's). The folder lives as long as the session."""
    from neurodebug.session import Session

    entry = rec.get("entry") or "f"
    if "files" not in rec:
        return Session(rec["code"], entry, rec["input"], options, predictor=predictor)
    folder = tempfile.mkdtemp(prefix="neurodebug-eval-")
    try:
        _write_project(folder, rec["files"])
        s = Session.from_file(os.path.join(folder, *rec["path"].split("/")), entry, rec["input"], options,
                              predictor=predictor)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(s, shutil.rmtree, folder, ignore_errors=True)
    return s


# -- the baseline ---------------------------------------------------------------------------------


def _function_lines(source: str, entry: str) -> dict[str, list[int]]:
    """function name -> the lines of its body that hold a statement start, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.stmt) and sub is not node and not isinstance(sub, (ast.FunctionDef, ast.ClassDef)):
                    lines.add(sub.lineno)
            out[node.name] = sorted(lines)
    return out


def _next_line(lines: list[int], line: int | None) -> int | None:
    for n in lines:
        if line is None or n > line:
            return n
    return None


def _source_line(source: str, n: int) -> str:
    lines = source_lines(source)
    return lines[n - 1] if 0 < n <= len(lines) else ""


def _texts(real: Trace, files: dict | None) -> dict:
    """Frame.file -> text of the files the baseline reads: ``files`` (a project's, the call
    expression's function included), else the trace's own source for its frames' file."""
    own = {f.file for f in real.frames[:1]} or {None}
    return files if files is not None else {file: real.source for file in own}


def baseline_free(real: Trace, files: dict | None = None) -> Trace:
    """The trivial free-running prediction: the entry's statement lines in order, locals as called
    (in the entry's file: ``files``, Frame.file -> text, for project code)."""
    frames: list[Frame] = []
    if real.frames:
        call = real.frames[0]
        frames.append(call)
        text = _texts(real, files).get(call.file, "")
        lines = _function_lines(text, real.entry).get(real.entry, [])
        prev = None
        for n in lines:
            frames.append(Frame("line", n, _source_line(text, n), dict(call.locals), None, 0, real.entry, file=call.file))
            prev = n
        if prev is not None:
            frames.append(Frame("return", prev, _source_line(text, prev), {}, "None", 0, real.entry, file=call.file))
    return Trace(real.source, real.entry, real.call, frames, End("end_of_text", "baseline"))


def baseline_teacher_forced(real: Trace, files: dict | None = None):
    """(state_ok count, action_ok count, counted, output ok) of the baseline given the real history
    (``files``: Frame.file -> text, for project code)."""
    from neurodebug.compare import SCORE_FROM, action_ok, frame_differences, same_value, state_ok

    texts = _texts(real, files)
    by_file = {file: _function_lines(text, real.entry) for file, text in texts.items()}
    n_state = n_action = 0
    counted = real.frames[SCORE_FROM:]
    for i, f in enumerate(real.frames[SCORE_FROM:], SCORE_FROM):
        prev = real.frames[i - 1]
        lines = by_file.get(prev.file, {}).get(prev.func or real.entry, [])
        nxt = _next_line(lines, prev.line if prev.event != "call" else None)
        if nxt is None:
            guess = Frame("return", prev.line, prev.source, {}, "None", prev.depth, prev.func, file=prev.file)
        else:
            guess = Frame("line", nxt, _source_line(texts.get(prev.file, ""), nxt), dict(prev.locals), None, prev.depth,
                          prev.func, file=prev.file)
        d = frame_differences(f, guess)
        n_state += state_ok(d)
        n_action += action_ok(d)
    out = None
    rv = real.return_value
    if rv is not None:
        out = same_value(rv, "None")
    elif real.end.reason == "raised":
        out = False
    return n_state, n_action, len(counted), out


# -- one record -------------------------------------------------------------------------------------


@dataclass
class RecordResult:
    id: str
    real_reason: str
    n_real: int
    n_predicted: int = 0
    # free-running counts
    valid: int = 0
    state: int = 0
    action: int = 0
    counted: int = 0
    output: bool | None = None
    # teacher-forced counts
    tf_valid: int = 0
    tf_predicted: int = 0
    tf_state: int = 0
    tf_action: int = 0
    tf_output: bool | None = None
    tf_done: bool = False
    # baseline counts (free-running, teacher-forced)
    b_state: int = 0
    b_action: int = 0
    b_valid: int = 0
    b_predicted: int = 0
    b_output: bool | None = None
    bt_state: int = 0
    bt_action: int = 0
    bt_output: bool | None = None
    seconds: float = 0.0
    forwards: int = 0  # forward passes (or requests) of the free-running prediction
    generated: int = 0  # frames the model generated for it (the forced call frame not counted)
    divergence: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: one row per scored frame and mode (``frame_rows``): what calibration is measured on
    frames: list[dict[str, Any]] = field(default_factory=list)


def _count(m, n_real: int, n_pred: int) -> tuple[int, int, int, int]:
    """(valid, state, action, counted) counts from a compare.Metrics."""
    from neurodebug.compare import SCORE_FROM

    counted = max(0, n_real - SCORE_FROM)
    valid = round((m.valid_format or 0.0) * n_pred)
    return valid, round((m.state_exact or 0.0) * counted), round((m.action_exact or 0.0) * counted), counted


def eval_record(rec: dict, predictor, codec, teacher: bool = True, options: SessionOptions | None = None) -> RecordResult:
    """Score one record; ``options`` as the session's (the real run, the frame cap and the frame
    length are eval's own: see NOT_OFFERED in neurodebug/options.py)."""
    from neurodebug import compare as C

    t0 = time.perf_counter()
    # the real run records the whole trace (the tracer's own cap); the prediction's cap is set below,
    # from the real trace's length
    options = (options or SessionOptions()).model_copy(
        update={"run_real": True, "max_frames": Limits().max_frames, "max_frame_tokens": MAX_FRAME_TOKENS})
    s = _session_of(rec, options, predictor).start()
    real = s.real
    res = RecordResult(str(rec["id"]), real.end.reason if real else "none", len(real.frames) if real else 0)
    if real is None or real.end.reason not in ("returned", "raised") or not real.frames:
        res.error = f"no usable real trace: {s.real_note or 'none'}"
        return res
    t_real = time.perf_counter() - t0

    # the baseline, scored by the same code
    files = s.file_texts({f.file for f in real.frames}) if s.path is not None else None
    b = C.compare(real, baseline_free(real, files))
    res.b_valid, res.b_state, res.b_action, _ = _count(b.metrics, len(real.frames), b.metrics.n_predicted)
    res.b_predicted, res.b_output = b.metrics.n_predicted, b.metrics.output_match
    res.bt_state, res.bt_action, _, res.bt_output = baseline_teacher_forced(real, files)

    # free-running prediction (the session's frame 0 is the real call frame)
    t0 = time.perf_counter()
    s.options = s.options.model_copy(update={"max_frames": min(MAX_FRAMES, len(real.frames) + EXTRA_FRAMES)})
    forwards, generated = s.speed.forwards, s.speed.frames
    s.cont()
    res.seconds = time.perf_counter() - t0
    res.forwards, res.generated = s.speed.forwards - forwards, s.speed.frames - generated
    res.extra["real_s"] = round(t_real, 3)
    predicted = Trace(real.source, real.entry, real.call, list(s.frames), s.end)
    comp = C.compare(real, predicted)
    m = comp.metrics
    res.n_predicted = m.n_predicted
    res.valid, res.state, res.action, res.counted = _count(m, len(real.frames), m.n_predicted)
    res.output = m.output_match
    res.divergence = comp.first_divergence.message if comp.first_divergence else None
    res.frames = free_running_rows(res.id, comp)

    if teacher:
        tf = C.teacher_forced(real, predictor, codec, max_alternatives=None, max_frame_tokens=MAX_FRAME_TOKENS,
                              constraint=s.frame_constraint, parser=s.new_parser(), confidence=True,
                              context=s.context.text, place=s.context.place)
        res.frames += teacher_forced_rows(res.id, tf)
        tm = tf.metrics
        counted = max(0, len(real.frames) - C.SCORE_FROM)
        res.tf_state = round((tm.state_exact or 0.0) * counted)
        res.tf_action = round((tm.action_exact or 0.0) * counted)
        res.tf_predicted = tm.n_predicted
        res.tf_valid = round((tm.valid_format or 0.0) * tm.n_predicted)
        res.tf_output = tm.output_match
        res.tf_done = True
    return res


# -- frames for calibration --------------------------------------------------------------------------


def frame_row(record: str, mode: str, step: int, confidence: float | None, state: bool, action: bool) -> dict:
    """One line of ``eval --frames-out``."""
    return {"record": record, "mode": mode, "step": step, "confidence": confidence,
            "state_match": bool(state), "action_match": bool(action)}


def free_running_rows(record: str, comp) -> list[dict]:
    """The scored steps of a free-running comparison that have a predicted frame (a real frame
    from SCORE_FROM on, aligned with one the model wrote)."""
    from neurodebug.compare import SCORE_FROM, action_ok, state_ok

    scored = [r for r in comp.rows[SCORE_FROM:] if r.real is not None and r.predicted is not None]
    return [frame_row(record, "free-running", r.step, r.predicted.confidence,
                      not r.predicted.malformed and state_ok(r.differs),
                      not r.predicted.malformed and action_ok(r.differs)) for r in scored]


def teacher_forced_rows(record: str, tf) -> list[dict]:
    """The scored frames of a teacher-forced comparison (the real history, greedy decoding)."""
    from neurodebug.compare import SCORE_FROM

    return [frame_row(record, "teacher-forced", sc.step, sc.confidence, sc.state_match, sc.action_match)
            for sc in tf.frames[SCORE_FROM:]]


def calibration(results: list[RecordResult]) -> dict[str, dict]:
    """Per mode, over every record's scored frames: AUROC of confidence for a wrong state, ECE
    and accuracy per bin (``neurodebug.confidence.calibration``)."""
    from neurodebug.confidence import calibration as measure

    out = {}
    for mode in ("free-running", "teacher-forced"):
        rows = [f for r in results for f in r.frames if f["mode"] == mode]
        out[mode] = measure([f["confidence"] for f in rows], [f["state_match"] for f in rows])
    out["free-running"].update(first_divergences(results))
    out["free-running"]["on_track"] = on_track_calibration(results)
    return out


def on_track_calibration(results: list[RecordResult]) -> dict:
    """Free-running, the calibration of ``confidence.on_track`` (the product of a trace's frame
    confidences so far) for "this frame's state is right against the real run"."""
    from neurodebug.confidence import calibration as measure
    from neurodebug.confidence import on_track

    pairs = []
    for r in results:
        rows = sorted((f for f in r.frames if f["mode"] == "free-running"), key=lambda f: f["step"])
        pairs += [(p, f["state_match"]) for p, f in zip(on_track([f["confidence"] for f in rows]), rows)]
    return measure([p for p, _ in pairs], [ok for _, ok in pairs])


def first_divergences(results: list[RecordResult], below: float | None = None) -> dict:
    """Over the free-running traces that go wrong: how often the first wrong frame is the first
    one under the unsure threshold (the default ``SessionOptions.unsure_below``), and how often
    some frame at or before it is (the user was warned in time)."""
    from neurodebug.confidence import first_divergence_flagged
    from neurodebug.options import SessionOptions

    below = SessionOptions().unsure_below if below is None else below
    flags = [first_divergence_flagged([(f["confidence"], f["state_match"]) for f in r.frames
                                       if f["mode"] == "free-running"], below) for r in results]
    flags = [f for f in flags if f is not None]
    return {"unsure_below": below, "diverging_records": len(flags),
            "first_divergence_is_first_unsure": _share([f[0] for f in flags]),
            "unsure_by_first_divergence": _share([f[1] for f in flags])}


# -- the whole suite ----------------------------------------------------------------------------------


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _share(xs: list[bool | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def summarize(results: list[RecordResult]) -> dict[str, Any]:
    ok = [r for r in results if r.error is None]
    S = lambda attr: sum(getattr(r, attr) for r in ok)  # noqa: E731
    secs = S("seconds")
    tf = bool(ok) and all(r.tf_done for r in ok)
    return {
        "records": len(results),
        "scored": len(ok),
        "skipped": len(results) - len(ok),
        "real_frames": S("n_real"),
        "model": {
            "free": {"valid_format": _ratio(S("valid"), S("n_predicted")), "state_exact": _ratio(S("state"), S("counted")),
                     "action_exact": _ratio(S("action"), S("counted")), "output_match": _share([r.output for r in ok])},
            "teacher_forced": {"valid_format": _ratio(S("tf_valid"), S("tf_predicted")),
                               "state_exact": _ratio(S("tf_state"), S("counted")) if tf else None,
                               "action_exact": _ratio(S("tf_action"), S("counted")) if tf else None,
                               "output_match": _share([r.tf_output for r in ok])},
            "frames_per_s": S("n_predicted") / secs if secs else None,
            "forwards_per_frame": _ratio(S("forwards"), S("generated")),
            "calibration": calibration(ok),
        },
        "baseline": {
            "free": {"valid_format": _ratio(S("b_valid"), S("b_predicted")), "state_exact": _ratio(S("b_state"), S("counted")),
                     "action_exact": _ratio(S("b_action"), S("counted")), "output_match": _share([r.b_output for r in ok])},
            "teacher_forced": {"valid_format": 1.0 if ok else None, "state_exact": _ratio(S("bt_state"), S("counted")),
                               "action_exact": _ratio(S("bt_action"), S("counted")),
                               "output_match": _share([r.bt_output for r in ok])},
        },
    }


_PRED = None  # per worker process: (predictor, codec)


def _init_worker(options, threads):
    global _PRED
    import torch

    torch.set_num_threads(threads)
    _PRED = _make(options)


def _make(options: SessionOptions):
    from neurodebug.codec import Codec

    p = options.make_predictor()
    return p, Codec(p.tokenizer)


def _eval_in_worker(args):
    rec, teacher, options = args
    return _safe_eval(rec, *_PRED, teacher, options)


def _safe_eval(rec, predictor, codec, teacher, options) -> RecordResult:
    try:
        return eval_record(rec, predictor, codec, teacher, options)
    except UserError as e:
        return RecordResult(str(rec.get("id")), "error", 0, error=str(e))


def run_suite(records: list[dict], options: SessionOptions | None = None, jobs: int = 1, teacher: bool = True,
              progress=None, time_limit: float | None = None, threads: int | None = None) -> list[RecordResult]:
    """Evaluate the records (in ``jobs`` processes); results in suite order.

    ``options``: the model, its backend and decoding, as a session's (:class:`SessionOptions`).
    Over http, ``model`` only gives the tokenizer, and each of the ``jobs`` processes is one
    client: a server that batches (vLLM) runs their requests together.

    With ``time_limit`` (seconds), no record is started after the limit: the results are those
    of the records finished by then (a prefix of the suite).
    """
    options = options or SessionOptions()
    results: list[RecordResult] = []
    deadline = time.monotonic() + time_limit if time_limit else None
    if jobs <= 1:
        if threads:
            import torch

            torch.set_num_threads(threads)
        predictor, codec = _make(options)
        for i, rec in enumerate(records):
            if deadline and time.monotonic() > deadline:
                break
            results.append(_safe_eval(rec, predictor, codec, teacher, options))
            if progress:
                progress(i + 1, results[-1])
        return results
    import multiprocessing as mp

    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(options, threads))
    try:
        it = pool.imap(_eval_in_worker, [(rec, teacher, options) for rec in records])
        for i in range(len(records)):
            if deadline is None:
                r = it.next()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    r = it.next(timeout=left)
                except mp.TimeoutError:
                    break
            results.append(r)
            if progress:
                progress(i + 1, r)
    finally:
        pool.terminate()
    return results


# -- output ---------------------------------------------------------------------------------------------


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def render(summary: dict, results: list[RecordResult], suite: str, worst: int = 10, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"{suite}: {summary['scored']} records scored ({summary['real_frames']} real frames)"
                    + (f", {summary['skipped']} skipped" if summary["skipped"] else "")
                    + (f", {summary['not_reached']} not reached (time limit)" if summary.get("not_reached") else ""))
    t.add_column("predictor")
    t.add_column("mode")
    for c in ("valid format", "state EM", "action EM", "output"):
        t.add_column(c, justify="right")
    for who, key in (("model", "model"), ("baseline", "baseline")):
        for mode in ("free", "teacher_forced"):
            m = summary[key][mode]
            t.add_row(who, "free-running" if mode == "free" else "teacher-forced", _pct(m["valid_format"]),
                      _pct(m["state_exact"]), _pct(m["action_exact"]), _pct(m["output_match"]))
    console.print(t)
    if "constrained" in summary:
        console.print("free-running SOURCE: " + ("constrained to lines of the file" if summary["constrained"]
                                                 else "unconstrained (--no-constrain)"))
    if "constrained_locals" in summary:
        console.print("free-running LOCALS keys: " + ("constrained to local names of the file"
                                                      if summary["constrained_locals"] else "unconstrained"))
    fps, fpf = summary["model"]["frames_per_s"], summary["model"].get("forwards_per_frame")
    if fps:
        console.print(f"free-running prediction: {fps:.1f} frames/s"
                      + (f", {fpf:.1f} forwards/frame" if fpf is not None else ""))
    for mode, c in summary["model"]["calibration"].items():
        if c["frames"]:
            console.print(f"{mode} confidence: AUROC for a wrong state {_num(c['auroc_state_wrong'])}, "
                          f"expected calibration error {_num(c['ece'])}, right when >= 0.9: "
                          f"{_pct(c['sure_right'])} of {c['sure_frames']} ({c['frames']} frames)")
            if c.get("on_track", {}).get("frames"):
                t = c["on_track"]
                console.print(f"  on track (the product of the frames' confidences so far): AUROC "
                              f"{_num(t['auroc_state_wrong'])}, expected calibration error {_num(t['ece'])}")
            if c.get("diverging_records"):
                console.print(f"  first divergence is the first frame under {c['unsure_below']:g}: "
                              f"{_pct(c['first_divergence_is_first_unsure'])} of {c['diverging_records']} "
                              f"diverging traces; one at or before it: {_pct(c['unsure_by_first_divergence'])}")
    ok = [r for r in results if r.error is None and r.counted]
    ok.sort(key=lambda r: (r.state / r.counted, r.action / r.counted, r.output is not False))
    if ok and worst:
        w = Table(title=f"worst {min(worst, len(ok))} records (free-running)")
        for c in ("id", "frames", "state EM", "action EM", "output", "first divergence"):
            w.add_column(c, overflow="fold")
        for r in ok[:worst]:
            w.add_row(r.id, f"{r.n_predicted}/{r.n_real}", _pct(r.state / r.counted), _pct(r.action / r.counted),
                      {True: "yes", False: "no", None: "-"}[r.output], r.divergence or "")
        console.print(w)
    bad = [r for r in results if r.error is not None]
    for r in bad[:5]:
        console.print(f"skipped {r.id}: {r.error}")


def result_dict(r: RecordResult) -> dict:
    """A record's results, its frames left to ``eval --frames-out``."""
    return {k: v for k, v in r.__dict__.items() if k != "frames"}
