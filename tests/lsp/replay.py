"""The language server on a replaying predictor (tests/replay.py), for end-to-end editor tests.

Its next token after ``ids`` is the one that follows ``ids`` in the first memorised token
sequence starting with ``ids`` (end_of_text when none does). Fed the encoding of a trace with
a planted mistake, a session predicts exactly that trace: a deterministic, real divergence
from the real run, for end-to-end tests of the editor front ends.

Run as a script it is a language server:
    python -m tests.lsp.replay TRACES.json [--delay S] [--count-sessions]
where TRACES.json is a list of Trace JSON dicts (Trace.to_json_dict()). With --count-sessions
it also answers the command ``neurodebug.test.liveSessions``: how many Session objects the
server still holds after a full garbage collection (for the tests of what work leaves behind).
"""

from __future__ import annotations

import sys

from tests.replay import ReplayPredictor, replay_from_argv

__all__ = ["ReplayPredictor", "main"]


def live_sessions(ls, *args) -> int:
    """The Session objects still alive in the server, after a full collection."""
    import gc

    from neurodebug.session import Session

    gc.collect()
    return sum(isinstance(o, Session) for o in gc.get_objects())


def main(argv: list[str]) -> None:
    from neurodebug.lsp.server import main as serve
    from neurodebug.lsp.server import server

    predictor = replay_from_argv(argv)
    if "--count-sessions" in argv:
        server.command("neurodebug.test.liveSessions")(live_sessions)
    serve(predictor_factory=lambda settings: predictor)


if __name__ == "__main__":
    main(sys.argv[1:])
