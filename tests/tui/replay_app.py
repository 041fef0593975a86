"""Run the TUI on a file with the replay predictor, in a real terminal (used by test_tmux.py).

    python -m tests.tui.replay_app FILE CALL
"""

from __future__ import annotations

import sys

from neurodebug.model.tokenizer import llama3_tokenizer
from neurodebug.tui.app import NeuroDebugApp, SessionSpec

from neurodebug.real.tracer import trace_file
from tests.replay import ReplayPredictor


def main(argv: list[str]) -> int:
    path, call = argv
    predictor = ReplayPredictor(llama3_tokenizer(), [trace_file(path, None, call)])
    NeuroDebugApp(SessionSpec(path, call=call, predictor=predictor)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
