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
    from neurodebug.cli._session_args import add_decoding_arguments, add_model_arguments

    p.add_argument("suite", metavar="SUITE.jsonl", help="the suite: one JSON record per line")
    add_model_arguments(p)
    p.add_argument("--limit", type=int, help="evaluate only the first N records")
    p.add_argument("--jobs", type=int, default=1,
                   help="records evaluated in parallel processes (default 1); over http each is one client, "
                        "so a batching server (vLLM) serves N at once")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="start no record after this many seconds; report the records finished by then")
    p.add_argument("--threads", type=int, help="torch CPU threads per process (default: cores / jobs)")
    p.add_argument("--no-teacher-forced", action="store_true", help="skip the teacher-forced scores")
    p.add_argument("--no-constrain", action="store_true",
                   help="free-running prediction without any constraint (lines of the file, the control flow, "
                        "local names in well-formed LOCALS)")
    add_decoding_arguments(p)
    p.add_argument("--worst", type=int, default=10, help="rows in the worst-cases table (default 10)")
    p.add_argument("--json", action="store_true", help="print the summary and per-record results as JSON")


def run(args) -> int:
    from neurodebug import evaluate

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1.")
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1.")
    if args.beam < 1:
        raise UserError("--beam must be at least 1.")
    records = evaluate.load_suite(args.suite, args.limit)
    # fail early, with one sentence, on a bad model or backend
    from neurodebug.backends import make_predictor, resolve_model
    from neurodebug.backends.http import parse_url
    from neurodebug.cli._session_args import http_options

    if args.backend == "http":
        # one token, so that a server that is down or speaks another contract is one sentence
        # here rather than the same error for every record
        probe = make_predictor(args.model, backend="http", url=args.url, **http_options(args))
        probe.open([probe.tokenizer.bos_id]).generate(1)
        model = resolve_model(args.model) if args.model is not None else None
    else:
        if args.url:
            raise UserError("--url only applies to the http backend; add --backend http.")
        model = resolve_model(args.model)
    progress, finish = _progress(len(records), quiet=args.json)
    try:
        results = evaluate.run_suite(records, model=model, device=args.device, jobs=args.jobs,
                                     teacher=not args.no_teacher_forced, progress=progress,
                                     time_limit=args.time_limit, threads=args.threads,
                                     constrain=not args.no_constrain,
                                     constrain_locals=_constrain_locals(args),
                                     constrain_flow=_constrain_flow(args), beam=args.beam,
                                     backend=args.backend, url=args.url,
                                     http={**http_options(args), "lookahead": not args.no_lookahead})
    finally:
        finish()
    summary = evaluate.summarize(results)
    summary["suite"] = args.suite
    summary["not_reached"] = len(records) - len(results)  # records left out by --time-limit
    summary["model_path"] = model
    summary["backend"] = args.backend
    if args.url:
        summary["url"] = args.url
    # over http only vLLM's contract can restrict a token (neurodebug/backends/http.py)
    applies = args.backend != "http" or parse_url(args.url)[1] == "vllm"
    summary["constrained"] = not args.no_constrain and applies
    summary["constrained_locals"] = _constrain_locals(args) and applies
    summary["constrained_flow"] = _constrain_flow(args) and applies
    summary["beam"] = args.beam
    if args.json:
        json.dump({"summary": summary, "records": [evaluate.result_dict(r) for r in results]}, sys.stdout, indent=1)
        print()
    else:
        evaluate.render(summary, results, args.suite, worst=args.worst)
    return 0


def _constrain_locals(args) -> bool:
    from neurodebug.session import CONSTRAIN_LOCALS

    return CONSTRAIN_LOCALS and not (args.no_constrain or args.no_constrain_locals)


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


def _constrain_flow(args) -> bool:
    return not (args.no_constrain or args.no_constrain_flow)
