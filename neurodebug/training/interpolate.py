"""A fine-tune interpolated with the weights it started from, tensor by tensor (WiSE-FT).

    python -m neurodebug.training.interpolate BASE TUNED OUT [--weight 0.5]

writes ``OUT`` = ``weight`` * TUNED + (1 - ``weight``) * BASE, in TUNED's layout (the same
shards, config and tokenizer). A fine-tune on new code (the corpus of classes and projects)
forgets some of what the base knew (the synthetic suite); the straight line between the two
keeps most of both, because both sit in one basin of the loss (Wortsman et al., "Robust
fine-tuning of zero-shot models", 2022). The weight is fixed beforehand (0.5, the paper's
default), not tuned on an evaluation suite. The result is a new model: it needs its own
calibration map (benchmarks/confidence_calibration.py), so none is copied.

Every tensor of both checkpoints is read into memory: meant for the bundled model's size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from neurodebug.errors import UserError

#: The files of TUNED copied as they are (weights are written anew; a calibration map is not copied).
CARRIED = ("config.json", "tokenizer.json", "model.safetensors.index.json")


def weight_files(directory: Path) -> list[str]:
    """The safetensors files of a checkpoint folder: its index's shards, or model.safetensors."""
    if not directory.is_dir():
        raise UserError(f"There is no folder '{directory}'.")
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        return sorted(set(json.loads(index.read_text())["weight_map"].values()))
    if (directory / "model.safetensors").is_file():
        return ["model.safetensors"]
    raise UserError(f"{directory} holds no model.safetensors (nor an index of shards).")


def read_tensors(directory: Path) -> dict:
    from safetensors.torch import load_file

    tensors = {}
    for name in weight_files(directory):
        tensors.update(load_file(str(directory / name)))
    return tensors


def interpolate(base: Path, tuned: Path, out: Path, weight: float = 0.5) -> Path:
    """Write ``weight`` * tuned + (1 - ``weight``) * base into ``out`` (in float32, stored in
    each tensor's dtype), with tuned's shards, config and tokenizer."""
    from safetensors.torch import load_file, save_file

    if not 0.0 <= weight <= 1.0:
        raise UserError(f"--weight {weight} is not between 0 and 1.")
    base_tensors = read_tensors(base)
    out.mkdir(parents=True, exist_ok=True)
    for name in weight_files(tuned):
        mixed = {}
        for key, t in load_file(str(tuned / name)).items():
            b = base_tensors.get(key)
            if b is None or b.shape != t.shape:
                raise UserError(f"{base} and {tuned} are not the same model: tensor {key} "
                                f"{'is missing from the first' if b is None else 'has another shape'}.")
            mixed[key] = (weight * t.float() + (1.0 - weight) * b.float()).to(t.dtype)
        save_file(mixed, str(out / name), metadata={"format": "pt"})
    for name in CARRIED:
        if (tuned / name).is_file():
            shutil.copyfile(tuned / name, out / name)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="the checkpoint the fine-tune started from (its --init)")
    ap.add_argument("tuned", type=Path, help="the fine-tuned checkpoint (a run's --out)")
    ap.add_argument("out", type=Path, help="the folder to write the interpolated checkpoint into")
    ap.add_argument("--weight", type=float, default=0.5, help="the fine-tune's share (default 0.5)")
    args = ap.parse_args(argv)
    try:
        interpolate(args.base, args.tuned, args.out, args.weight)
    except UserError as e:
        print(f"neurodebug: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {args.weight:g} x {args.tuned} + {1 - args.weight:g} x {args.base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
