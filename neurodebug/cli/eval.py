"""`neurodebug eval SUITE.jsonl`: score a model on a suite of functions and inputs, with a baseline.

Each line of the suite: {"id", "code", "input" (argument expression), "output" (optional),
"entry" (default "f")}. Prints CWM's four metrics for the model (free-running and
teacher-forced) and for the trivial baseline (next line in source order, unchanged locals),
the model's frames per second, and the worst cases. See neurodebug/evaluate.py.
"""

from __future__ import annotations

import json
import sys

from neurodebug.errors import UserError

NAME = "eval"
HELP = "evaluate a model on a suite (JSONL of code + input) against the real runs, with a trivial baseline"
ORDER = 40


def add_arguments(p) -> None:
    from neurodebug import options

    p.add_argument("suite", metavar="SUITE.jsonl", help="the suite: one JSON record per line")
    p.add_argument("--limit", type=int, help="evaluate only the first N records")
    p.add_argument("--jobs", type=int, default=1,
                   help="records evaluated in parallel processes (default 1); over http each is one client, "
                        "so a batching server (vLLM) serves N at once")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="start no record after this many seconds; report the records finished by then")
    p.add_argument("--threads", type=int, help="torch CPU threads per process (default: cores / jobs)")
    p.add_argument("--no-teacher-forced", action="store_true", help="skip the teacher-forced scores")
    p.add_argument("--worst", type=int, default=10, help="rows in the worst-cases table (default 10)")
    p.add_argument("--json", action="store_true", help="print the summary and per-record results as JSON")
    p.add_argument("--frames-out", metavar="FILE.jsonl",
                   help="write one JSON line per scored frame: record, mode, step, confidence, state_match, action_match")
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw the reliability diagram of the frames' confidence (needs matplotlib: the plot extra)")
    options.add_arguments(p, exclude=options.NOT_OFFERED["eval"])


def run(args) -> int:
    from neurodebug import evaluate, options

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1.")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1.")
    opts = options.from_args(args)
    records = evaluate.load_suite(args.suite, args.limit)
    model = _check_model(opts)
    progress, finish = _progress(len(records), quiet=args.json)
    try:
        results = evaluate.run_suite(records, opts, jobs=args.jobs, teacher=not args.no_teacher_forced,
                                     progress=progress, time_limit=args.time_limit, threads=args.threads)
    finally:
        finish()
    summary = evaluate.summarize(results)
    summary["suite"] = args.suite
    summary["not_reached"] = len(records) - len(results)  # records left out by --time-limit
    summary["model_path"] = model
    summary["backend"] = opts.backend
    if opts.url:
        summary["url"] = opts.url
    # over http only vLLM's contract can restrict a token (neurodebug/backends/http.py)
    from neurodebug.backends.http import parse_url

    applies = opts.backend != "http" or parse_url(opts.url)[1] == "vllm"
    summary["constrained"] = opts.constrain and applies
    summary["constrained_locals"] = opts.constrains_locals and applies
    summary["constrained_flow"] = opts.constrains_flow and applies
    summary["beam"] = opts.beam
    if args.frames_out:
        _write_frames(args.frames_out, results)
    if args.plot:
        from neurodebug.plot import reliability_diagram

        reliability_diagram(summary["model"]["calibration"], args.plot, title=args.suite)
    if args.json:
        json.dump({"summary": summary, "records": [evaluate.result_dict(r) for r in results]}, sys.stdout, indent=1)
        print()
    else:
        evaluate.render(summary, results, args.suite, worst=args.worst)
    return 0


def _write_frames(path: str, results) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            for r in results:
                for row in r.frames:
                    fh.write(json.dumps(row) + "\n")
    except OSError as e:
        raise UserError(f"Cannot write the frames to {path!r}: {e.strerror or e}.") from None


def _check_model(opts) -> str | None:
    """The model's checkpoint path; a bad model or backend fails here, in one sentence, rather
    than once per record."""
    from neurodebug.backends import resolve_model

    if opts.backend == "http":
        # one token, so that a server that is down or speaks another contract is one sentence
        probe = opts.make_predictor()
        probe.open([probe.tokenizer.bos_id]).generate(1)
        return resolve_model(opts.model) if opts.model is not None else None
    if opts.url:
        raise UserError("--url only applies to the http backend; add --backend http.")
    return resolve_model(opts.model)


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    p = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                 console=Console(stderr=True), transient=True)
    task = p.add_task("eval", total=total, info="")
    p.start()

    def update(n, r):
        p.update(task, completed=n, info=r.id)

    return update, p.stop
