"""Where a checkpoint is: a directory, or a Hugging Face repo id in the local cache (never the network).

Imports nothing heavy, so `neurodebug model info` answers without loading torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from neurodebug.model.errors import ModelError


def resolve(path_or_repo_id: str | os.PathLike, weights: bool = True) -> Path:
    """The checkpoint directory: a path, or a repo id ("facebook/cwm") in the local HF cache.
    ``weights=False`` takes a cached snapshot without weights (config and tokenizer files: all
    a client of a model server needs)."""
    p = Path(path_or_repo_id).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise ModelError(f"The directory {p} has no config.json, so it is not a checkpoint.")
        return p
    if p.exists():
        raise ModelError(f"{p} is a file; a checkpoint is a directory with config.json and *.safetensors.")
    name = str(path_or_repo_id)
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        snap = _hf_cache_snapshot(name, weights)
        if snap is not None:
            return snap
        raise ModelError(
            f"No checkpoint directory {name} exists and the repo {name} is not in the local "
            f"Hugging Face cache ({_hf_cache_dir()}); download it first, e.g. `hf download {name}`."
        )
    raise ModelError(f"No checkpoint directory exists at {p}.")


def _hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = Path(os.environ.get("HF_HOME", Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "huggingface"))
    return home.expanduser() / "hub"


def _hf_cache_snapshot(repo_id: str, weights: bool = True) -> Path | None:
    repo = _hf_cache_dir() / ("models--" + repo_id.replace("/", "--"))
    snaps = repo / "snapshots"
    ref = repo / "refs" / "main"
    candidates = []
    if ref.is_file():
        candidates.append(snaps / ref.read_text().strip())
    if snaps.is_dir():
        candidates += sorted(snaps.iterdir(), key=lambda d: d.stat().st_mtime, reverse=True)
    for c in candidates:
        if (c / "config.json").is_file() and (not weights or any(c.glob("*.safetensors"))):
            return c
    return None
