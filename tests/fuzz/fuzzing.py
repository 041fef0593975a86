"""What the fuzz tests of the servers share: how many examples, hypothesis's settings for a
server that keeps state, JSON of any shape, bodies that are not JSON, and the loop that sends
each message to a stdio server and checks now and then that it still answers.

Issue 18 asks for 1,000 malformed messages per server in CI: `.ci/run` sets
NEURODEBUG_FUZZ_EXAMPLES=1000. A default local run draws 200 (1,000 took 19-29 s per server on
the shared 2-core development machine); the examples are derandomized, so every run with a
given count draws the same ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.rawlsp import RawClient

#: Messages (or requests) per server fuzz test.
EXAMPLES = int(os.environ.get("NEURODEBUG_FUZZ_EXAMPLES", "200"))

#: No shrinking and no example database: the server keeps state, so a smaller example replayed
#: later proves nothing.
SERVER_FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                              HealthCheck.data_too_large])


def json_values(strings: list[str], text_size: int, key_size: int) -> st.SearchStrategy:
    """Any JSON value (no NaN: JSON has none), with ``strings`` the server may take for
    something it knows among the random text."""
    return st.recursive(
        st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
        | st.text(max_size=text_size) | st.sampled_from(strings),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=key_size), inner, max_size=4),
        max_leaves=12)


def not_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


#: Message bodies that are not JSON at all.
NOT_JSON = st.binary(min_size=1, max_size=64).filter(not_json)


def fuzz_stdio_server(client: RawClient, messages: st.SearchStrategy, send: Callable[[RawClient, object], None],
                      still_answers: Callable[[RawClient], None], every: int = 100) -> int:
    """Draw EXAMPLES of ``messages`` and ``send`` each to ``client`` (it waits for an answer where
    one is due); every ``every`` messages, check that the server ``still_answers``. Returns how
    many messages were drawn."""
    drawn = 0

    @SERVER_FUZZ
    @given(message=messages)
    def fuzz(message):
        nonlocal drawn
        drawn += 1
        send(client, message)
        if drawn % every == 0:
            still_answers(client)

    fuzz()
    return drawn
