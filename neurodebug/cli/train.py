"""`neurodebug train --out DIR`: train a small CWM-architecture model on real traces of generated code.

The recipe of the bundled model (see neurodebug/training/train.py): generate and trace programs, train a
BPE tokenizer with CWM's special tokens, train with AdamW and a warmup + cosine schedule,
evaluate and checkpoint periodically (--resume continues), `--device cuda` on a GPU.
"""

from __future__ import annotations

# The training code is light to import (no torch at module level), and the parser asks for its
# arguments anyway: its own add_arguments and run are the subcommand's.
from neurodebug.training.train import add_arguments, run  # noqa: F401

NAME = "train"
HELP = "train a small CWM-architecture model on traces of generated Python (the bundled model's recipe)"
ORDER = 45

