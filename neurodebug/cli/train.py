"""`neurodebug train --out DIR`: train a small CWM-architecture model on real traces of generated code.

The recipe of the bundled model (see neurodebug/training/train.py): generate and trace programs, train a
BPE tokenizer with CWM's special tokens, train with AdamW and a warmup + cosine schedule,
evaluate and checkpoint periodically (--resume continues), `--device cuda` on a GPU.
"""

from __future__ import annotations

NAME = "train"
HELP = "train a small CWM-architecture model on traces of generated Python (the bundled model's recipe)"
ORDER = 45


def add_arguments(p) -> None:
    from neurodebug.training.train import add_arguments as train_arguments

    train_arguments(p)


def run(args) -> int:
    from neurodebug.training.train import run as train_run

    return train_run(args)
