"""Long work: it runs off the message loop, can be cancelled, and never corrupts a document's result.

The replayed model here takes 10 ms a token (count's trace is ~460 tokens), so there is
something running to cancel, replace, queue behind or make stale.
"""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
import pytest_asyncio
from lsprotocol import types

from tests.lsp.conftest import start, stop
from tests.lsp.test_server import execute, hints, open_doc, trace_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow(replay_file):
    client = await start([sys.executable, "-m", "tests.lsp.replay", str(replay_file), "--delay", "0.01",
                          "--count-sessions"])
    yield client
    await stop(client)


async def until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def frames_reported(client, tokens_before) -> int:
    """The most frames a new progress token (not in ``tokens_before``) reported predicted so far."""
    return max((int(r.message.split()[0]) for t, rs in client.progress_reports.items() if t not in tokens_before
                for r in rs if getattr(r, "message", None) and r.message.endswith("frames predicted")), default=0)


def reported_frames(client, tokens_before, at_least: int = 2) -> bool:
    """True once a new progress token reported ``at_least`` frames predicted."""
    return frames_reported(client, tokens_before) >= at_least


async def test_a_newer_prediction_cancels_the_running_one(slow):
    uri = open_doc(slow, "replace")
    before = set(slow.progress_reports)
    first = asyncio.create_task(execute(slow, "neurodebug.compare", uri, "count", None))
    await until(lambda: reported_frames(slow, before))
    second = await execute(slow, "neurodebug.compare", uri, "ratio", None)
    with pytest.raises(Exception, match="newer neurodebug request replaced this one"):
        await first
    assert second["function"] == "ratio" and second["frames"] == 4
    assert (await hints(slow, uri)) == {12: "q = inf  real raises ZeroDivisionError('division by zero')", 13: "return inf"}


async def test_a_step_queues_behind_the_running_prediction(slow):
    uri = open_doc(slow, "queue")
    predict = asyncio.create_task(execute(slow, "neurodebug.predict", uri, "ratio", None))
    await asyncio.sleep(0.2)
    back = await execute(slow, "neurodebug.step", uri, "back")
    assert (await predict)["frames"] == 4
    assert back["frames"] == 3 and back["index"] == 2  # ran after the whole prediction, on its result


async def test_cancel_request_stops_the_session(slow):
    uri = open_doc(slow, "cancelrequest")
    before = set(slow.progress_reports)
    future = slow.protocol.send_request(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(command="neurodebug.compare", arguments=[uri, "count", None]),
        msg_id="cancel-me")
    await until(lambda: reported_frames(slow, before))
    slow.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wrap_future(future)
    # the session stopped part way and what it had is shown, consistently
    await until(lambda: trace_for(slow, uri) is not None)
    session = trace_for(slow, uri).session
    assert 1 < len(session.frames) < 17 and not session.ended


async def test_the_loop_answers_while_a_prediction_runs_and_its_progress_bar_cancels_it(slow):
    uri = open_doc(slow, "progresscancel")
    before = set(slow.progress_reports)
    work = asyncio.create_task(execute(slow, "neurodebug.predict", uri, "count", None))
    await until(lambda: reported_frames(slow, before, at_least=4))
    lenses = await slow.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    at_lenses = frames_reported(slow, before)
    assert len(lenses) == 6 and not work.done()
    # an order, not a time: the lenses came while the prediction ran, and it went on predicting after
    await until(lambda: frames_reported(slow, before) > at_lenses)
    assert await hints(slow, uri) == {}  # nothing for this version yet
    token = next(t for t in slow.progress_reports if t not in before)
    slow.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await work
    assert result["cancelled"] and not result["ended"] and 1 < result["frames"] < 17
    assert slow.progress_reports[token][-1].kind == "end"
    assert 3 in await hints(slow, uri)


def edit(client, uri: str, version: int, text: str = "n = 1") -> None:
    """Replace ``n = 0`` on line 3 of the document with ``text`` (the same text is an edit too)."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(2, 4), types.Position(2, 9)), text=text)]))


async def test_an_edit_during_a_prediction_drops_its_result(slow):
    uri = open_doc(slow, "stale")
    before = set(slow.progress_reports)
    work = asyncio.create_task(execute(slow, "neurodebug.compare", uri, "count", None))
    await until(lambda: reported_frames(slow, before))
    edit(slow, uri, 2)
    with pytest.raises(Exception, match="document changed"):
        await work
    assert await hints(slow, uri) == {}


async def test_cancelled_sessions_are_freed(slow):
    """Work stopped by an edit or a newer prediction leaves no session behind (issue #18: pygls
    kept each command's exception, whose traceback held the session and its KV cache)."""
    alive = await execute(slow, "neurodebug.test.liveSessions")
    uri = open_doc(slow, "freed")
    for version in (2, 3):
        before = set(slow.progress_reports)
        work = asyncio.create_task(execute(slow, "neurodebug.predict", uri, "count", None))
        await until(lambda before=before: reported_frames(slow, before))
        edit(slow, uri, version, "n = 0")  # the replayed model knows only this text
        with pytest.raises(Exception, match="document changed"):
            await work
    before = set(slow.progress_reports)
    first = asyncio.create_task(execute(slow, "neurodebug.predict", uri, "count", None))
    await until(lambda: reported_frames(slow, before))
    await execute(slow, "neurodebug.predict", uri, "ratio", None)
    with pytest.raises(Exception, match="newer neurodebug request replaced this one"):
        await first
    edit(slow, uri, 4, "n = 0")  # drops the document's result, ratio's session
    assert await execute(slow, "neurodebug.test.liveSessions") == alive
