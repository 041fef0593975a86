"""The ``launch`` request's arguments (the launch.json attributes) and the Session they open.

The attribute names are those of the VS Code extension's ``neurodebug`` debugger type; a client
may add its own (``type``, ``name``, ``__sessionId``, ...), which are ignored. A bad value is a
UserError with one sentence, answered as an error response.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from neurodebug.errors import UserError


class LaunchConfig(BaseModel):
    """What to predict and with which model (see docs/dap.md for each attribute)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    program: str = Field(min_length=1)
    call: str | None = None  # as the CLI's --call; else the '# neurodebug:' comment, else the model proposes
    entry: str | None = None
    stopOnEntry: StrictBool = True
    compare: StrictBool = True  # the real run beside the prediction
    isolation: Literal["auto", "bwrap", "none"] = "auto"  # how the real run is confined (neurodebug.real.isolation)
    model: str | None = None
    backend: Literal["local", "transformers", "http"] = "local"
    url: str | None = None
    servedModelName: str | None = None  # the http backend's --served-model-name (vLLM's)
    device: str = "cpu"
    temperature: float = Field(0.0, ge=0)
    seed: int | None = None
    maxFrames: int = Field(500, ge=1)
    noConstrain: StrictBool = False

    @classmethod
    def parse(cls, arguments: dict | None) -> LaunchConfig:
        """The config of a launch request's arguments; UserError with one sentence when one is bad."""
        try:
            return cls.model_validate(arguments or {})
        except ValidationError as e:
            raise UserError(_sentence(e)) from None

    def predictor_key(self) -> tuple:
        return (self.model, self.backend, self.url, self.device, self.servedModelName)


def _sentence(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(p) for p in first["loc"]) or "arguments"
    if first["type"] == "missing":
        return f"The launch configuration needs {name!r} (the Python file to debug)." if name == "program" \
            else f"The launch configuration needs {name!r}."
    got = first.get("input")
    return f"The launch attribute {name!r} cannot be {got!r}: {first['msg'][0].lower()}{first['msg'][1:].rstrip('.')}."


def default_predictor(config: LaunchConfig):
    """The predictor the configuration names (imported here: loading a model imports torch)."""
    from neurodebug.backends import make_predictor

    return make_predictor(config.model, backend=config.backend, url=config.url, device=config.device,
                          model_name=config.servedModelName)


def check_entry(config: LaunchConfig, source: str) -> None:
    """Say in launch.json's terms (not the CLI's) that the function to debug is not named."""
    from neurodebug.trace.source import find_entry

    if not config.entry and not (config.call or "").strip() and find_entry(source) is None:
        raise UserError("Name the function to debug: add \"entry\" (or \"call\": \"f(...)\") to the launch "
                        "configuration, or mark its def line with '# << START_OF_TRACE'.")


def open_session(config: LaunchConfig, predictor):
    """A Session on the configured program; raises UserError with one sentence."""
    from neurodebug.real.isolation import use_bwrap
    from neurodebug.real.tracer import Limits
    from neurodebug.session import Session

    if config.compare:
        use_bwrap(config.isolation)  # bwrap asked for where it cannot start: one sentence before any work
    return Session.from_file(config.program, entry=config.entry, call=config.call, predictor=predictor,
                             run_real=config.compare, limits=Limits(isolation=config.isolation),
                             temperature=config.temperature, seed=config.seed,
                             max_frames=config.maxFrames, constrain_source=not config.noConstrain)
