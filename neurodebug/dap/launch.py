"""The ``launch`` request's arguments (the launch.json attributes) and the Session they open.

``program``, ``entry``, ``call`` and ``stopOnEntry`` are the adapter's own; every other attribute
is a session option under its camelCase name (``maxFrames``, ``compare``, ...: see
neurodebug/options.py). A client may add its own (``type``, ``name``, ``__sessionId``, ...),
which are ignored. A bad value is a UserError with one sentence, answered as an error response.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from neurodebug.errors import UserError
from neurodebug.options import OPTIONS, SessionOptions, camel_name, sentence


class LaunchConfig(BaseModel):
    """What to predict and with which options (see docs/dap.md for each attribute)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    program: str = Field(min_length=1)
    call: str | None = None  # as the CLI's --call; else the '# neurodebug:' comment, else the model proposes
    entry: str | None = None
    stopOnEntry: StrictBool = True
    options: SessionOptions = Field(default_factory=SessionOptions)

    @classmethod
    def parse(cls, arguments: dict | None) -> LaunchConfig:
        """The config of a launch request's arguments; UserError with one sentence when one is bad."""
        arguments = {k: v for k, v in (arguments or {}).items() if k != "options"}
        if not arguments.get("program"):
            raise UserError("The launch configuration needs 'program' (the Python file to debug).")
        options = SessionOptions.from_mapping(arguments, spelled=_attribute, front_end="dap")
        try:
            return cls.model_validate({**arguments, "options": options})
        except ValidationError as e:
            raise UserError(sentence(e, _attribute)) from None

    def predictor_key(self) -> tuple:
        return self.options.predictor_key()


def _attribute(name: str) -> str:
    return f"launch attribute {camel_name(name) if name in OPTIONS else name!r}"


def default_predictor(config: LaunchConfig):
    """The predictor the configuration names (loading a model imports torch)."""
    return config.options.make_predictor()


def check_entry(config: LaunchConfig, source: str) -> None:
    """Say in launch.json's terms (not the CLI's) that the function to debug is not named."""
    from neurodebug.trace.source import find_entry, method_call_comment

    if not config.entry and not (config.call or "").strip() and find_entry(source) is None \
            and method_call_comment(source) is None:
        raise UserError("Name the function to debug: add \"entry\" (or \"call\": \"f(...)\" or "
                        "\"Stack().push(3)\") to the launch configuration, or mark its def line with "
                        "'# << START_OF_TRACE'.")


def new_session(config: LaunchConfig, predictor):
    """The Session the configuration describes, not started; raises UserError with one sentence."""
    from neurodebug.session import Session

    config.options.check_isolation()  # bwrap asked for where it cannot start: one sentence before any work
    return Session.from_file(config.program, entry=config.entry, call=config.call, options=config.options,
                             predictor=predictor)
