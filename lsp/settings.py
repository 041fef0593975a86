"""The language server's settings: the session options (neurodebug.options) and its own two.

They come from the editor (initializationOptions, then workspace/didChangeConfiguration), over
environment variables read at start. The session options use their camelCase names
(``maxFrames``); ``realRuns`` and ``debugLens`` are the server's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from neurodebug.errors import UserError
from neurodebug.options import SessionOptions

#: Environment variables read when the editor does not set a value.
ENV = {
    "model": "NEURODEBUG_MODEL",
    "backend": "NEURODEBUG_BACKEND",
    "url": "NEURODEBUG_URL",
    "device": "NEURODEBUG_DEVICE",
    "served_model_name": "NEURODEBUG_SERVED_MODEL_NAME",
}
#: Keys older clients send, and the option each names.
LEGACY = {"modelPath": "model", "serverUrl": "url"}


@dataclass(frozen=True)
class Settings:
    options: SessionOptions = field(default_factory=SessionOptions)
    debug_lens: bool = False  # the client can start a debug session from a lens (neurodebug.debug)
    real_runs: bool = True  # Compare runs the function for real; False refuses (Predict never runs it)
    problems: tuple[tuple[str, str], ...] = ()  # (key, sentence) of each setting given a bad value

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        return cls().updated({k: env.get(v) for k, v in ENV.items()})

    def updated(self, given: dict | None) -> "Settings":
        """These settings with the non-empty values of ``given`` (camelCase or snake_case keys,
        at the top or under "neurodebug"). A value that is not valid for its option keeps the
        setting as it was, so that one bad value loses none of the others, and its sentence is
        kept in ``problems`` (the next command says it) until the key gets a good value."""
        if not isinstance(given, dict):
            return self
        given = given.get("neurodebug", given)
        if not isinstance(given, dict):
            return self
        options, problems = self.options, dict(self.problems)
        for key, value in given.items():
            try:
                options = SessionOptions.from_mapping({LEGACY.get(key, key): value}, base=options, front_end="lsp")
                problems.pop(key, None)
            except UserError as e:
                problems[key] = str(e)
        flags = {name: _flag(given[key]) for key, name in (("debugLens", "debug_lens"), ("realRuns", "real_runs"))
                 if key in given and _flag(given[key]) is not None}
        return replace(self, options=options, problems=tuple(problems.items()), **flags)

    def check(self) -> None:
        """UserError with the sentence of the first setting that has a bad value, if one has."""
        if self.problems:
            raise UserError(self.problems[0][1])

    def predictor_key(self) -> tuple:
        """The settings that decide which predictor to load (a change reloads it)."""
        return self.options.predictor_key()


def _flag(value) -> bool | None:
    """A boolean setting from JSON (true/false) or an env-style string ("0", "false", "no", "off");
    None when it is neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
    return None
