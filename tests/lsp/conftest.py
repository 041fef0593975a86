"""Fixtures for the language-server tests: an example with real divergences, and servers on it.

The servers are the real `lsp.server`, spoken to over stdio by pytest-lsp's client. Their
model is tests/lsp/replay.py's ReplayPredictor fed traces of EXAMPLE with planted mistakes,
so the divergences from the real run (traced by the real tracer) are known exactly.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from tests.subprocesses import neurodebug_env

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = '''\
# neurodebug: count('berry', 'r')
def count(s, ch):
    n = 0
    for c in s:
        if c == ch:
            n += 1
    return n


# neurodebug: ratio(4, 0)
def ratio(a, b):
    q = a / b
    return q


def square(x):
    return x * x
'''


#: EXAMPLE with a form feed alone on the blank line after count (Python counts it as whitespace).
FORM_FEED = EXAMPLE.replace("    return n\n\n\n", "    return n\n\x0c\n\n")


def planted_traces() -> list:
    """The real traces of EXAMPLE with the mistakes the replayed "model" makes.

    count: the model believes ``n += 1`` adds 2 (every later n doubled, returns 4, real 2).
    ratio: the model believes 4 / 0 is inf (real: ZeroDivisionError on line 12).
    square: no call is written down; the model proposes square(3) and gets it right.
    """
    from neurodebug.real.tracer import trace_source
    from neurodebug.trace.frames import End, Frame

    count = trace_source(EXAMPLE, "count", None)
    assert count.end.reason == "returned", count.end
    doubled = []
    for f in count.frames:
        loc = {k: (str(2 * int(v)) if k == "n" else v) for k, v in f.locals.items()}
        arg = str(2 * int(f.arg)) if f.event == "return" else f.arg
        doubled.append(replace(f, locals=loc, arg=arg))
    count = replace(count, frames=doubled, end=End("returned", value="4"))

    ratio = trace_source(EXAMPLE, "ratio", None)
    assert ratio.end.reason == "raised", ratio.end
    call = ratio.frames[0]
    frames = [call, Frame("line", 12, "    q = a / b", dict(call.locals), None, 0, "ratio"),
              Frame("line", 13, "    return q", {**call.locals, "q": "inf"}, None, 0, "ratio"),
              Frame("return", 13, "    return q", {}, "inf", 0, "ratio")]
    ratio = replace(ratio, frames=frames, end=End("returned", value="inf"))
    square = trace_source(EXAMPLE, "square", "3")
    assert square.end.reason == "returned", square.end
    square_ff = trace_source(FORM_FEED, "square", "3")  # the model gets it right there too
    return [count, ratio, square, square_ff]


@pytest.fixture(scope="session")
def replay_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "traces.json"
    path.write_text(json.dumps([t.to_json_dict(wire=False) for t in planted_traces()]), encoding="utf-8")
    return path


async def start(command: list[str], initialization_options=None):
    """A pytest-lsp client connected to ``command`` over stdio, initialized as VS Code would."""
    config = ClientServerConfig(server_command=command, server_env=neurodebug_env())
    client = config.client_factory()
    client.traces = []
    client.feature("neurodebug/trace")(lambda params: client.traces.append(params))
    await client.start_io(*config.get_server_command(), env=config.server_env, cwd=str(ROOT))
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=ROOT.as_uri(),
        initialization_options=initialization_options,
    ))
    return client


async def stop(client) -> None:
    await client.shutdown_session()
    await client.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def lsp(replay_file):
    """One replay server for a test module (tests use distinct document URIs)."""
    client = await start([sys.executable, "-m", "tests.lsp.replay", str(replay_file)])
    yield client
    await stop(client)
