"""Backends: one Predictor interface over the local runtime, Hugging Face transformers and HTTP servers.

    make_predictor(model=None, backend="local", url=None, device="cpu") -> Predictor

``model`` is a checkpoint directory (or, for the http backend, where to read the tokenizer
from); None means the bundled checkpoint in ``neurodebug/bundled/``. Every failure a user can
cause is a UserError with one sentence. See ``base.py`` for the interface.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurodebug.backends.base import Predictor, State
from neurodebug.confidence import Calibration
from neurodebug.errors import UserError

BACKENDS = ("local", "transformers", "http")

#: Where the small bundled model lives (a checkpoint directory with config.json).
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "bundled"


def bundled_model() -> Path | None:
    """The bundled checkpoint directory, or None when it is not installed."""
    return BUNDLED_DIR if (BUNDLED_DIR / "config.json").is_file() else None


def resolve_model(model: str | None) -> str:
    """A checkpoint directory for ``model`` (a path, a Hugging Face repo id in the local cache, or None)."""
    if model is None:
        b = bundled_model()
        if b is None:
            raise UserError("No model given and the bundled model is not installed; pass --model PATH.")
        return str(b)
    p = Path(model).expanduser()
    if p.exists():
        if not p.is_dir() or not (p / "config.json").is_file():
            raise UserError(f"{model} is not a model checkpoint directory (it has no config.json).")
        return str(p)
    if "/" in model and not model.startswith((".", "/")) and model.count("/") == 1:
        return model  # a Hugging Face repo id: the runtime resolves it from the local cache
    raise UserError(f"There is no model at {model}.")


#: Where the http backend reads the server's API key and served model name when not given
#: (every front end -- CLI, TUI, language server, debug adapter -- inherits them).
API_KEY_ENV = "NEURODEBUG_API_KEY"
MODEL_NAME_ENV = "NEURODEBUG_SERVED_MODEL_NAME"


def make_predictor(model: str | None = None, backend: str = "local", url: str | None = None,
                   device: str = "cpu", timeout: float | None = None, model_name: str | None = None,
                   api_key: str | None = None, lookahead: bool = True, dtype: str | None = None,
                   quantize: str | None = None) -> Predictor:
    """The Predictor for a backend name; raises UserError with one sentence on bad input.

    ``lookahead``: the local backend settles several tokens per forward (jump-forward and
    prompt-lookup speculation, ``model/lookahead.py``: the same greedy frames); False runs one
    forward per token. ``dtype`` and ``quantize`` ("int8") apply to the local backend's weights.

    For the http backend: ``model_name`` (the server's served model name) and ``api_key``
    default to $NEURODEBUG_SERVED_MODEL_NAME and $NEURODEBUG_API_KEY.
    """
    if backend not in BACKENDS:
        raise UserError(f"Unknown backend {backend!r}; use one of {', '.join(BACKENDS)}.")
    if backend == "http":
        if not url:
            raise UserError("The http backend needs --url (for example http://127.0.0.1:5678).")
        if timeout is not None and timeout <= 0:
            raise UserError("--timeout must be above 0 seconds.")
        from neurodebug.backends.http import DEFAULT_TIMEOUT_S, HttpPredictor

        predictor = HttpPredictor(url, _http_tokenizer(model), timeout=timeout or DEFAULT_TIMEOUT_S,
                                  model_name=model_name or os.environ.get(MODEL_NAME_ENV) or None,
                                  api_key=api_key or os.environ.get(API_KEY_ENV) or None)
        predictor.calibration = Calibration.load(_http_model_folder(model))
        return predictor
    if url:
        raise UserError("--url only applies to the http backend; add --backend http.")
    path = resolve_model(model)
    if backend != "local" and (dtype or quantize):
        raise UserError("The dtype and quantize options apply to the local backend only.")
    if backend == "transformers":
        from neurodebug.backends.transformers import TransformersPredictor

        check_checkpoint(path)
        return TransformersPredictor(path, device=device)
    from neurodebug.backends.local import LocalPredictor

    try:
        return LocalPredictor(path, device=device, dtype=dtype, quantize=quantize,
                              lookahead="default" if lookahead else None)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - the runtime's errors (ModelError, TokenizerError) carry a sentence
        from neurodebug.model.errors import ModelError
        from neurodebug.model.tokenizer import TokenizerError

        if isinstance(e, (ModelError, TokenizerError, OSError)):
            raise UserError(_sentence(e, f"The model at {path} cannot be loaded")) from None
        raise


def check_checkpoint(path: str) -> None:
    """A damaged or partial checkpoint (config.json or weights) is one sentence, before loading it."""
    from neurodebug.model.errors import ModelError
    from neurodebug.model.hub import resolve
    from neurodebug.model.integrity import check_weights

    try:
        check_weights(resolve(path))
    except ModelError as e:
        raise UserError(str(e)) from None


def _http_tokenizer(model: str | None):
    """The tokenizer a client needs to build token-id prompts: the model's (a directory, or a
    repo id in the local Hugging Face cache: its config.json and tokenizer files are enough),
    else the bundled model's, else CWM's own."""
    from neurodebug.model.errors import ModelError
    from neurodebug.model.tokenizer import TokenizerError, llama3_tokenizer, load_tokenizer

    try:
        folder = _http_model_folder(model)
        return load_tokenizer(folder) if folder is not None else llama3_tokenizer()
    except (TokenizerError, ModelError) as e:
        raise UserError(str(e)) from None


def _http_model_folder(model: str | None) -> str | None:
    """The local folder of the model a server serves (``--model``, else the bundled one): its
    tokenizer and its calibration map; None when there is neither (CWM's vocabulary is built in)."""
    from neurodebug.model.hub import resolve

    return resolve(resolve_model(model), weights=False) if model is not None else bundled_model()


def _sentence(e: Exception, prefix: str) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg if msg.endswith(".") and len(msg) > 20 else f"{prefix} ({msg})."


__all__ = ["BACKENDS", "BUNDLED_DIR", "Predictor", "State", "bundled_model", "check_checkpoint", "make_predictor", "resolve_model"]
