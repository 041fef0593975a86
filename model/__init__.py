"""The CWM runtime: tokens in, tokens out (imports nothing from neurodebug/).

    from neurodebug.model import load_model
    m = load_model(path_or_repo_id, device="cpu", dtype=None, attention="auto", quantize=None)

Names are imported lazily, so that `import neurodebug.model.tokenizer` does not pull in torch.
"""

__all__ = ["CWM", "ModelError", "Sequence", "load_model"]


def __getattr__(name):
    if name == "ModelError":
        from neurodebug.model.errors import ModelError

        return ModelError
    if name in ("CWM", "Sequence", "load_model"):
        from neurodebug.model import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
