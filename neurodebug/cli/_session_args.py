"""Options shared by `predict`, `compare` and `debug`: the file, the call, the model, sampling."""

from __future__ import annotations

import argparse

from neurodebug.errors import UserError


def add_model_arguments(p: argparse.ArgumentParser, http_client: bool = True) -> None:
    """--model, --backend, --url, --device; with ``http_client``, the http backend's
    --served-model-name, --api-key and --timeout (`serve` has its own, for the server side)."""
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="PATH",
                   help="checkpoint directory or Hugging Face repo id in the local cache (default: the bundled model)")
    g.add_argument("--backend", choices=("local", "transformers", "http"), default="local",
                   help="how to run the model (default: local)")
    g.add_argument("--url", help="model server for --backend http: http://HOST:PORT (Meta's /completions) "
                                 "or http://HOST:PORT/v1 (vLLM)")
    g.add_argument("--device", default="cpu", help="torch device for local/transformers (default: cpu)")
    if not http_client:
        return
    g.add_argument("--served-model-name", metavar="NAME",
                   help="for --backend http: the name the server serves the model under (vLLM's --served-model-name; "
                        "default $NEURODEBUG_SERVED_MODEL_NAME, else none is sent)")
    g.add_argument("--api-key", metavar="KEY",
                   help="for --backend http: the server's API key, sent as 'Authorization: Bearer KEY' "
                        "(default $NEURODEBUG_API_KEY, which keeps it out of the process list)")
    g.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="for --backend http: how long one request may take (default 120)")


def add_session_arguments(p: argparse.ArgumentParser, call_required: bool = False) -> None:
    p.set_defaults(_call_required=call_required)
    p.add_argument("file", metavar="FILE", help="the Python file")
    p.add_argument("--call", metavar="EXPR",
                   help="the call: \"f('strawberry', 'r')\" or just the arguments \"'strawberry', 'r'\" "
                        "(default: the '# neurodebug: f(...)' comment above the entry's def"
                        + ("" if call_required else ", else the model proposes the arguments") + ")")
    p.add_argument("--entry", metavar="NAME", help="entry function (default: from --call or '# << START_OF_TRACE')")
    add_model_arguments(p)
    g = p.add_argument_group("prediction")
    g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    g.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling threshold (default 1)")
    g.add_argument("--seed", type=int, default=None, help="sampling seed")
    g.add_argument("--max-frames", type=int, default=500, help="stop the prediction after this many frames (default 500)")
    g.add_argument("--max-frame-tokens", type=int, default=2048,
                   help="a frame longer than this many tokens is cut off and ends the prediction (default 2048)")
    add_constrain_argument(g)
    add_decoding_arguments(g)


def add_isolation_argument(p) -> None:
    """--isolation: how a real run is confined (neurodebug.real.isolation)."""
    from neurodebug.real.isolation import MODES

    p.add_argument("--isolation", choices=MODES, default="auto",
                   help="how the real run is confined: bwrap (bubblewrap: a read-only view of the files, a private "
                        "scratch dir and /tmp, no network, its own processes), none (the time, memory and output "
                        "limits alone), auto (bwrap where it can start, else none, said once; default)")


def real_limits(args):
    """The Limits of the real run the options ask for (the isolation; the rest as by default)."""
    from neurodebug.real.isolation import use_bwrap
    from neurodebug.real.tracer import Limits

    use_bwrap(args.isolation)  # bwrap asked for where it cannot start: one sentence before any work
    return Limits(isolation=args.isolation)


def add_real_run_arguments(p, recorded: bool = False) -> None:
    """--no-run (and, with ``recorded``, --real FILE) for the commands that run the program for real."""
    g = p.add_argument_group("real run")
    add_isolation_argument(g)
    g.add_argument("--no-run", action="store_true",
                   help="do not run the program: show the prediction only"
                        + (" (compare it with --real FILE instead)" if recorded else ""))
    if recorded:
        g.add_argument("--real", metavar="TRACE.json",
                       help="compare with this recorded trace (from `neurodebug trace --json`) instead of running "
                            "the program; implies --no-run")


def add_constrain_argument(p) -> None:
    p.add_argument("--no-constrain", action="store_true",
                   help="let the model write any frame (by default a predicted frame can only name a line of the "
                        "file that the control flow allows, and its locals only local names of the file's functions "
                        "in well-formed JSON; over http only vLLM's contract can be constrained)")


def add_decoding_arguments(p) -> None:
    """The finer decoding options (the debugger commands and eval): each constraint on its own, lookahead,
    beam search."""
    p.add_argument("--no-constrain-locals", action="store_true",
                   help="constrain SOURCE only: LOCALS may be any text")
    p.add_argument("--no-constrain-flow", action="store_true",
                   help="let a frame name any line of the file, not only one the control flow can reach next")
    p.add_argument("--no-lookahead", action="store_true",
                   help="one forward per token (by default the local backend appends tokens the constraints "
                        "force and verifies drafts from the trace's own history: the same frames in fewer forwards)")
    p.add_argument("--beam", type=int, default=1, metavar="N",
                   help="predict each frame by beam search of N hypotheses at temperature 0 (default 1: greedy; "
                        "about N times slower)")


def call_from_comment(args) -> str | None:
    """The `# neurodebug: f(...)` comment above the entry's def, as `neurodebug trace` reads it."""
    from pathlib import Path

    from neurodebug.trace.source import find_call_comment, find_entry

    try:
        source = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None  # Session.from_file says what is wrong with the file
    entry = args.entry or find_entry(source)
    return find_call_comment(source, entry) if entry else None


def predictor_from_args(args):
    from neurodebug.backends import make_predictor

    return make_predictor(args.model, backend=args.backend, url=args.url, device=args.device,
                          lookahead=not getattr(args, "no_lookahead", False), **http_options(args))


def http_options(args) -> dict:
    """The http backend's options of a command line, as make_predictor takes them."""
    return {"model_name": getattr(args, "served_model_name", None), "api_key": getattr(args, "api_key", None),
            "timeout": getattr(args, "timeout", None)}


def recorded_trace(path: str):
    """The Trace in a file written by `neurodebug trace --json`; a bad file is one sentence."""
    from pathlib import Path

    from neurodebug.trace.frames import Trace

    try:
        return Trace.from_json(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"Cannot read the trace {path!r}: {e.strerror or e}.") from None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UserError(f"{path!r} is not a trace written by `neurodebug trace --json`.") from None


def session_from_args(args, run_real: bool | None = None):
    """The Session the options describe; it runs the program for real only where the command
    offers --no-run and it was not given (``run_real`` overrides that)."""
    from neurodebug.session import Session

    if args.max_frames < 1:
        raise UserError("--max-frames must be at least 1.")
    if args.max_frame_tokens < 2:
        raise UserError("--max-frame-tokens must be at least 2.")
    if args.temperature < 0:
        raise UserError("--temperature must not be negative.")
    if not 0 < args.top_p <= 1:
        raise UserError("--top-p must be in (0, 1].")
    real = recorded_trace(args.real) if getattr(args, "real", None) else None
    entry = args.entry or (real.entry if real is not None else None)
    call = args.call if args.call is not None else real.call if real is not None else call_from_comment(args)
    if call is None and getattr(args, "_call_required", False):
        from neurodebug.trace.source import resolve_target

        # A wrong path or function name is the first thing to say (one sentence each); an entry
        # without parameters needs no call.
        if resolve_target(args.file, entry)[1] is None:
            raise UserError(f"No call given: pass --call \"f(...)\" or put a '# neurodebug: f(...)' comment "
                            f"above the entry's def in {args.file}.")
    if run_real is None:
        run_real = hasattr(args, "no_run") and not args.no_run and real is None
    limits = real_limits(args) if run_real else None
    predictor = predictor_from_args(args)
    return Session.from_file(args.file, entry=entry, call=call, predictor=predictor, run_real=run_real,
                             real=real, limits=limits,
                             temperature=args.temperature, top_p=args.top_p, seed=args.seed,
                             max_frames=args.max_frames, max_frame_tokens=args.max_frame_tokens,
                             constrain_source=not getattr(args, "no_constrain", False),
                             constrain_locals=False if getattr(args, "no_constrain_locals", False) else None,
                             constrain_flow=False if getattr(args, "no_constrain_flow", False) else None,
                             beam=getattr(args, "beam", 1))


def short_locals(locals_: dict[str, str], width: int = 80) -> str:
    from neurodebug.trace.format import shorten

    return shorten(", ".join(f"{k}={v}" for k, v in locals_.items()), width)


def frame_line(i: int, f, width: int = 80) -> str:
    """One frame as a line of text: step (frame index ``i`` counted from 1), event, line number,
    source, locals or value."""
    where = f"{f.line:>4}" if f.line is not None else "   ?"
    from neurodebug.trace.format import strip_marker
    from neurodebug.trace.format import shorten

    what = f"-> {shorten(f.arg or '', width)}" if f.event in ("return", "exception") else short_locals(f.locals, width)
    mark = f"  [malformed: {shorten(f.malformed, width)}]" if f.malformed else ""

    return f"{i + 1:>4} {f.event:<9} {where}  {'  ' * f.depth}{strip_marker(f.source).strip()}    {what}{mark}"
