"""SessionOptions: every option a debugging session takes, defined once.

Each option has its type, default, allowed range and help text here, and nowhere else. The
front ends derive from this class: the CLI's flags (:func:`add_arguments`, :func:`from_args`),
the language server's settings and the debug adapter's launch attributes (the camelCase
names of :func:`camel_name`, read by :meth:`SessionOptions.from_mapping`), ``eval``, the TUI
and the Python API (``SessionOptions(max_frames=100)``). A bad value is one sentence that
names the option as the front end spells it (:func:`sentence`).

Where a front end leaves an option out, :data:`NOT_OFFERED` says which and why, so that the
test that every front end offers every option with the same default has one list to read.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from neurodebug.backends import BACKENDS
from neurodebug.errors import UserError, validation_sentence
from neurodebug.real.isolation import MODES as ISOLATION_MODES
from neurodebug.real.tracer import Limits

STEP_OVER_MODES = ("force_return", "generate")
DTYPES = ("float32", "bfloat16", "float16")
_LIMITS = Limits()  # the real run's limits by default (the tracer's)
#: Most tokens one frame may take before it counts as cut off.
MAX_FRAME_TOKENS = 2048


def _option(default, help: str, group: str, *, flag: str | None = None, camel: str | None = None,
            metavar: str | None = None, off: str | None = None, **constraints) -> Any:
    """A pydantic Field with what the front ends need to spell the option: its CLI ``flag``
    (default ``--name-with-dashes``, ``--no-name`` for a switch that is on by default, whose
    --help is ``off``: what turning it off does), its ``camel`` name in the editor's settings and
    launch.json, and its ``group`` in ``--help``."""
    extra = {"group": group, "flag": flag, "camel": camel, "metavar": metavar, "off": off}
    return Field(default, description=help, json_schema_extra={k: v for k, v in extra.items() if v}, **constraints)


class OptionError(UserError):
    """A bad option value, said in the Python API's words; ``error`` is pydantic's, for a front
    end to say it in its own (:meth:`SessionOptions.checked`)."""

    def __init__(self, error: ValidationError):
        super().__init__(sentence(error, lambda name: f"option {name}"))
        self.error = error


class SessionOptions(BaseModel):
    """The options of one session (see the module docstring); frozen, so a session's options
    never change under it: ``options.model_copy(update={...})`` makes another."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- the model ------------------------------------------------------------------------------
    model: str | None = _option(
        None, "checkpoint directory or Hugging Face repo id in the local cache (default: the bundled model)",
        "model", metavar="PATH")
    backend: Literal[BACKENDS] = _option("local", "how to run the model", "model")
    url: str | None = _option(
        None, "model server for the http backend: http://HOST:PORT (Meta's /completions) or http://HOST:PORT/v1 (vLLM)",
        "model")
    served_model_name: str | None = _option(
        None, "for the http backend: the name the server serves the model under (vLLM's --served-model-name; "
              "default $NEURODEBUG_SERVED_MODEL_NAME, else none is sent)", "model", metavar="NAME")
    api_key: str | None = _option(
        None, "for the http backend: the server's API key, sent as 'Authorization: Bearer KEY' "
              "(default $NEURODEBUG_API_KEY, which keeps it out of the process list)", "model", metavar="KEY")
    timeout: float | None = _option(
        None, "for the http backend: how long one request may take, in seconds (default 120)", "model",
        metavar="SECONDS", gt=0)
    device: str = _option("cpu", "torch device for the local and transformers backends (cpu, cuda)", "model")
    dtype: Literal[DTYPES] | None = _option(
        None, "weights' dtype on the local backend (default: the checkpoint's; float32 on the CPU when it names none)",
        "model")
    quantize: Literal["int8"] | None = _option(
        None, "weight-only quantization on the local backend (int8: per output channel)", "model")
    lookahead: StrictBool = _option(
        True, "on the local backend, append tokens the constraints force and verify drafts from the trace's own "
              "history: the same frames in fewer forwards (off: one forward per token)", "model",
        off="one forward per token (by default the local backend appends tokens the constraints force and "
            "verifies drafts from the trace's own history: the same frames in fewer forwards)")

    # -- decoding -------------------------------------------------------------------------------
    constrain: StrictBool = _option(
        True, "constrain decoding: a predicted frame names only a line of the file that the control flow allows, "
              "and its locals only local names of the file's functions in well-formed JSON (over http only "
              "vLLM's contract can be constrained)", "prediction",
        off="let the model write any frame (by default a predicted frame can only name a line of the file that "
            "the control flow allows, and its locals only local names of the file's functions in well-formed "
            "JSON; over http only vLLM's contract can be constrained)")
    constrain_locals: StrictBool = _option(True, "constrain LOCALS too (off: SOURCE only, LOCALS may be any text)",
                                           "prediction", off="constrain SOURCE only: LOCALS may be any text")
    constrain_flow: StrictBool = _option(
        True, "follow the file's control flow (off: a frame may name any line of the file)", "prediction",
        off="let a frame name any line of the file, not only one the control flow can reach next")
    beam: int = _option(1, "predict each frame by beam search of N hypotheses at temperature 0 (1: greedy; "
                           "about N times slower)", "prediction", metavar="N", ge=1)
    temperature: float = _option(0.0, "sampling temperature (0: greedy)", "prediction", ge=0)
    top_p: float = _option(1.0, "nucleus sampling threshold, in (0, 1]", "prediction", gt=0, le=1)
    seed: int | None = _option(None, "sampling seed (default: a random one)", "prediction")
    max_frames: int = _option(500, "stop the prediction after this many frames", "prediction", metavar="N", ge=1)
    max_frame_tokens: int = _option(
        MAX_FRAME_TOKENS, "a frame longer than this many tokens is cut off and ends the prediction", "prediction",
        metavar="N", ge=2)
    unsure_below: float = _option(
        0.5, "mark a predicted value or frame whose confidence (how likely it is right: the probability the model "
             "gave what it wrote, through the model's calibration map) is below this as unsure, with a dim ?",
        "prediction", metavar="P", ge=0, le=1)
    step_over: Literal[STEP_OVER_MODES] = _option(
        "force_return", "how `next` steps over a call: force_return (the model writes the callee's return at once) "
                        "or generate (it predicts the callee's frames, which are then skipped)", "prediction")

    # -- the real run ---------------------------------------------------------------------------
    run_real: StrictBool = _option(
        True, "run the program for real beside the prediction (isolated, under the limits below)", "real run",
        flag="--no-run", camel="compare", off="do not run the program: show the prediction only")
    isolation: Literal[ISOLATION_MODES] = _option(
        _LIMITS.isolation, "how the real run is confined: bwrap (bubblewrap: a read-only view of the files, a private scratch "
                "dir and /tmp, no network, its own processes), none (the time, memory and output limits alone), "
                "auto (bwrap where it can start, else none, said once)", "real run")
    wall_s: float = _option(_LIMITS.wall_s, "the real run's wall-clock limit, in seconds", "real run", flag="--wall",
                            camel="wallSeconds", metavar="S", gt=0)
    cpu_s: float = _option(_LIMITS.cpu_s, "the real run's CPU-time limit, in seconds", "real run", flag="--cpu",
                           camel="cpuSeconds", metavar="S", gt=0)
    memory_mb: int = _option(_LIMITS.memory_mb, "the real run's address-space limit, in MB", "real run", flag="--memory",
                             camel="memoryMb", metavar="MB", ge=16)

    # -- what the options mean together ---------------------------------------------------------
    @property
    def constrains_locals(self) -> bool:
        """LOCALS keys are constrained: asked for, and decoding is constrained at all."""
        return self.constrain and self.constrain_locals

    @property
    def constrains_flow(self) -> bool:
        """Frames follow the control flow: asked for, and decoding is constrained at all."""
        return self.constrain and self.constrain_flow

    def predictor_key(self) -> tuple:
        """The options that decide which predictor is loaded (a change of one reloads it)."""
        return tuple(getattr(self, name) for name in PREDICTOR_OPTIONS)

    def make_predictor(self):
        """The predictor these options name (loading a model imports torch: call it off the UI thread)."""
        from neurodebug.backends import make_predictor

        return make_predictor(self.model, backend=self.backend, url=self.url, device=self.device,
                              timeout=self.timeout, model_name=self.served_model_name, api_key=self.api_key,
                              lookahead=self.lookahead, dtype=self.dtype, quantize=self.quantize)

    def check_isolation(self) -> None:
        """With a real run, bwrap asked for where it cannot start is one sentence (UserError)
        before any work; ``auto`` falls back and says so once."""
        if self.run_real:
            from neurodebug.real.isolation import use_bwrap

            use_bwrap(self.isolation)

    def limits(self) -> Limits:
        """The real run's Limits (the rest as the tracer's defaults)."""
        return Limits(wall_s=self.wall_s, cpu_s=self.cpu_s, memory_mb=self.memory_mb, isolation=self.isolation, max_frames=self.max_frames)

    def __init__(self, **values) -> None:
        """Options from Python values (``SessionOptions(max_frames=100)``); a bad one is a
        UserError: "The option max_frames cannot be 0: input should be greater than or equal to 1."."""
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise OptionError(e) from None

    # -- from the front ends --------------------------------------------------------------------
    @classmethod
    def checked(cls, spelled=None, **values) -> "SessionOptions":
        """Options from Python values; a bad one is a UserError whose sentence names it as
        ``spelled(name)`` does (default: the CLI's flag)."""
        try:
            return cls(**values)
        except OptionError as e:
            raise UserError(sentence(e.error, spelled or cli_spelling)) from None

    @classmethod
    def from_mapping(cls, values: dict | None, base: "SessionOptions | None" = None,
                     spelled=None, front_end: str | None = None) -> "SessionOptions":
        """Options from a JSON object (the editor's settings, a launch configuration) that uses
        camelCase or snake_case names, over ``base``; names that are no option (the object also
        holds the front end's own keys) or that ``front_end`` does not offer are ignored, and
        None or "" keeps ``base``'s value."""
        names = [n for n in OPTIONS if n not in NOT_OFFERED.get(front_end, {})]
        by_name = {**{camel_name(n): n for n in names}, **{n: n for n in names}}
        given = {by_name[k]: v for k, v in (values or {}).items() if k in by_name and v is not None and v != ""}
        merged = {**(base or cls()).model_dump(), **given}
        return cls.checked(spelled or (lambda name: f"setting {camel_name(name)!r}"), **merged)


#: The --help groups of the options, in order.
GROUPS = ("model", "prediction", "real run")
#: Every option's name, in the order of the class.
OPTIONS: tuple[str, ...] = tuple(SessionOptions.model_fields)
#: The options that decide which predictor to load.
PREDICTOR_OPTIONS = ("model", "backend", "url", "served_model_name", "api_key", "timeout", "device", "dtype",
                     "quantize", "lookahead")
_SECRET = "a secret stays out of files that get committed or shared (settings, launch.json, notebooks): $NEURODEBUG_API_KEY gives it"
#: What each front end leaves out, and why (a test reads this list: everything else is offered,
#: with the default above).
NOT_OFFERED: dict[str, dict[str, str]] = {
    "predict": {name: "predict never runs the program" for name in
                ("run_real", "isolation", "wall_s", "cpu_s", "memory_mb")},
    "eval": {"run_real": "eval always runs the program: the real run is what it scores against",
             "max_frames": "eval's protocol fixes the frame cap (evaluate.MAX_FRAMES)",
             "max_frame_tokens": "eval's protocol fixes the frame length (evaluate.MAX_FRAME_TOKENS)",
             "step_over": "eval only continues, it never steps over a call",
             "unsure_below": "eval shows no frames: its calibration numbers take every confidence",
             "isolation": "eval runs each record under the default isolation",
             "wall_s": "eval runs each record under the default limits",
             "cpu_s": "eval runs each record under the default limits",
             "memory_mb": "eval runs each record under the default limits"},
    "lsp": {"run_real": "Predict and Compare choose it per command (the setting realRuns can forbid Compare)",
            "api_key": _SECRET},
    "dap": {"api_key": _SECRET},
    "notebook": {"api_key": _SECRET},
}


def _extra(name: str) -> dict:
    return SessionOptions.model_fields[name].json_schema_extra or {}


def camel_name(name: str) -> str:
    """The option's name in the editor's settings and launch.json (``max_frames`` -> ``maxFrames``)."""
    head, *rest = name.split("_")
    return _extra(name).get("camel") or head + "".join(w.title() for w in rest)


def default(name: str):
    return SessionOptions.model_fields[name].default


def flag(name: str) -> str:
    """The option's CLI flag: ``--max-frames``; ``--no-lookahead`` for a switch that is on by default."""
    if f := _extra(name).get("flag"):
        return f
    dashed = name.replace("_", "-")
    return f"--no-{dashed}" if default(name) is True else f"--{dashed}"


def cli_spelling(name: str) -> str:
    return f"option {flag(name)}"


def sentence(error: ValidationError, spelled=cli_spelling) -> str:
    """The first problem of a validation error as one sentence, the option named as ``spelled(name)``
    does: "The option --max-frames cannot be 0: input should be greater than or equal to 1."."""
    first = error.errors()[0]
    if first["type"] == "extra_forbidden":
        return f"There is no session option {first['loc'][0]!r}."
    return validation_sentence(error, lambda loc: f"The {spelled(loc[0] if loc else '')}")


# -- the command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, exclude=(), groups=None) -> None:
    """Add a flag per option (but ``exclude``; only those of the --help ``groups`` named, when
    given); each flag's default is None, so :func:`from_args` tells a flag not given from one
    given its default value."""
    added: dict[str, Any] = {}
    for name, info in SessionOptions.model_fields.items():
        group = (info.json_schema_extra or {})["group"]
        if name in exclude or (groups is not None and group not in groups):
            continue
        extra = info.json_schema_extra or {}
        if group not in added:
            added[group] = parser.add_argument_group(group)
        kw: dict[str, Any] = {"dest": f"option_{name}", "default": None, "help": _help(name)}
        if info.annotation is bool:
            kw["action"] = "store_const"
            kw["const"] = not default(name)
        else:
            choices = _choices(name)
            if choices:
                kw["choices"] = choices
            else:
                kw["type"] = _cli_type(name)
                kw["metavar"] = extra.get("metavar") or name.upper()
        added[group].add_argument(flag(name), **kw)


def from_args(args: argparse.Namespace, **overrides) -> SessionOptions:
    """The options a parsed command line gives (flags not given keep their defaults), with ``overrides``."""
    given = {name: getattr(args, f"option_{name}") for name in OPTIONS
             if getattr(args, f"option_{name}", None) is not None}
    return SessionOptions.checked(**{**given, **overrides})


def offered_flags(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """option name -> the default a parser gives it (for the test that the front ends agree)."""
    out = {}
    for action in parser._actions:  # argparse has no public list of a parser's actions
        if action.dest.startswith("option_"):
            out[action.dest[len("option_"):]] = action.default
    return out


def _help(name: str) -> str:
    text = SessionOptions.model_fields[name].description or ""
    d = default(name)
    if d is True:
        return _extra(name)["off"]
    if isinstance(d, bool) or d is None or "default" in text:
        return text
    return f"{text} (default {d})"


def _choices(name: str) -> tuple | None:
    """The values a Literal option takes (None for the others)."""
    annotation = SessionOptions.model_fields[name].annotation
    for t in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(t) is Literal:
            return typing.get_args(t)
    return None


def _cli_type(name: str):
    annotation = SessionOptions.model_fields[name].annotation
    for t in (int, float):
        if annotation in (t, t | None):
            return t
    return str
