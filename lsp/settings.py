"""Where the server's model comes from: initializationOptions / workspace settings, then env vars."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace

from neurodebug.session import MAX_FRAME_TOKENS

#: Environment variables read when the editor does not set a value.
ENV = {
    "model": "NEURODEBUG_MODEL",
    "backend": "NEURODEBUG_BACKEND",
    "url": "NEURODEBUG_URL",
    "device": "NEURODEBUG_DEVICE",
    "served_model_name": "NEURODEBUG_SERVED_MODEL_NAME",
}


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # checkpoint dir or HF repo id; None -> the bundled model
    backend: str = "local"  # local | transformers | http
    url: str | None = None  # model server URL for the http backend
    served_model_name: str | None = None  # the name a vLLM server serves the model under (its --served-model-name)
    device: str = "cpu"
    max_frames: int = 200  # cap on predicted frames per session
    max_frame_tokens: int = MAX_FRAME_TOKENS  # a frame longer than this counts as cut off
    temperature: float = 0.0
    debug_lens: bool = False  # the client can start a debug session from a lens (neurodebug.debug)
    real_runs: bool = True  # Compare runs the function for real; False refuses (Predict never runs it)
    isolation: str = "auto"  # how Compare's real run is confined: auto | bwrap | none (neurodebug.real.isolation)

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        return cls().updated({k: env.get(v) for k, v in ENV.items()})

    def updated(self, options: dict | None) -> "Settings":
        """These settings with the non-empty values of ``options`` (camelCase keys accepted)."""
        if not isinstance(options, dict):
            return self
        options = options.get("neurodebug", options)
        if not isinstance(options, dict):
            return self
        known = {f.name: f.type for f in fields(self)}
        aliases = {"maxFrames": "max_frames", "maxFrameTokens": "max_frame_tokens", "modelPath": "model", "serverUrl": "url",
                   "servedModelName": "served_model_name",
                   "debugLens": "debug_lens", "realRuns": "real_runs"}
        change = {}
        for key, value in options.items():
            key = aliases.get(key, key)
            if key not in known or value is None or value == "":
                continue
            try:
                current = getattr(self, key)
                if isinstance(current, bool):
                    change[key] = _flag(value)
                else:
                    change[key] = type(current)(value) if current is not None else str(value)
            except (TypeError, ValueError):
                continue
        return replace(self, **change)

    def predictor_key(self) -> tuple:
        """The fields that decide which predictor to load (a change reloads it)."""
        return (self.model, self.backend, self.url, self.device, self.served_model_name)


def _flag(value) -> bool:
    """A boolean setting from JSON (true/false) or an env-style string ("0", "false", "no", "off")."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("1", "true", "yes", "on"):
            return True
        if v in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return bool(value)
