"""The language server on a replaying predictor (tests/replay.py), for end-to-end editor tests.

Its next token after ``ids`` is the one that follows ``ids`` in the first memorised token
sequence starting with ``ids`` (end_of_text when none does). Fed the encoding of a trace with
a planted mistake, a session predicts exactly that trace: a deterministic, real divergence
from the real run, for end-to-end tests of the editor front ends.

Run as a script it is a language server:
    python -m tests.lsp.replay TRACES.json [--delay S]
where TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()).
"""

from __future__ import annotations

import sys

from tests.replay import ReplayPredictor, replay_from_argv

__all__ = ["ReplayPredictor", "main"]


def main(argv: list[str]) -> None:
    from neurodebug.lsp.server import main as serve

    predictor = replay_from_argv(argv)
    serve(predictor_factory=lambda settings: predictor)


if __name__ == "__main__":
    main(sys.argv[1:])
