"""Results per document version and one job per document, without the protocol."""

from __future__ import annotations

import asyncio

import pytest
from neurodebug.lsp.documents import Cancelled, Result, Store
from neurodebug.lsp.settings import Settings


def test_a_result_belongs_to_one_version():
    store = Store()
    store.store("u", Result(3, object(), "f", False))
    assert store.result("u", 3) is not None
    assert store.result("u", 4) is None and store.result("other", 3) is None
    assert store.invalidate("u") and store.result("u", 3) is None
    assert not store.invalidate("never-seen")


@pytest.mark.asyncio
async def test_a_new_prediction_cancels_the_running_one_and_waits_for_it():
    store, order = Store(), []
    started = asyncio.Event()

    async def slow(job):
        started.set()
        while not job.cancelled:
            await asyncio.sleep(0.01)
        order.append(("slow stopped", job.reason))
        job.check()

    async def quick(job):
        order.append("quick ran")
        return "quick"

    first = asyncio.create_task(store.run("u", slow, replace=True))
    await started.wait()
    assert store.busy("u")
    assert await store.run("u", quick, replace=True) == "quick"
    with pytest.raises(Cancelled, match="superseded"):
        await first
    assert order == [("slow stopped", "superseded"), "quick ran"]
    assert not store.busy("u")


@pytest.mark.asyncio
async def test_other_requests_queue_and_an_edit_cancels_running_and_waiting_jobs():
    store, order = Store(), []
    gate = asyncio.Event()

    async def first(job):
        await gate.wait()
        order.append("first")
        return 1

    async def second(job):
        order.append("second")
        return 2

    a = asyncio.create_task(store.run("u", first, replace=False))
    b = asyncio.create_task(store.run("u", second, replace=False))
    await asyncio.sleep(0.05)
    assert order == []
    gate.set()
    assert (await a, await b) == (1, 2) and order == ["first", "second"]

    gate.clear()
    a = asyncio.create_task(store.run("u", first, replace=False))
    b = asyncio.create_task(store.run("u", second, replace=False))
    await asyncio.sleep(0.05)
    store.invalidate("u", "edited")
    gate.set()
    await a  # the running job decides itself what a cancel means (the runner drops its result)
    with pytest.raises(Cancelled, match="edited"):
        await b  # the waiting one never runs
    assert order == ["first", "second", "first"]


def test_settings_from_env_then_editor():
    s = Settings.from_env({"NEURODEBUG_MODEL": "/ckpt", "NEURODEBUG_BACKEND": "http", "NEURODEBUG_URL": "http://h:1"})
    assert (s.options.model, s.options.backend, s.options.url) == ("/ckpt", "http", "http://h:1")
    t = s.updated({"neurodebug": {"model": "/other", "maxFrames": "50", "maxFrameTokens": 64, "url": "", "bogus": 1}})
    assert (t.options.model, t.options.max_frames, t.options.max_frame_tokens, t.options.url) == \
        ("/other", 50, 64, "http://h:1")
    assert t.predictor_key() != s.predictor_key() and t.problems == ()
    assert s.updated(None) == s
    bad = s.updated({"maxFrames": "many", "topP": 0.5})  # a bad value keeps the old one and is said once asked
    assert bad.options == s.options.model_copy(update={"top_p": 0.5})
    assert bad.problems == (("maxFrames", "The setting 'maxFrames' cannot be 'many': input should be a valid integer, "
                                          "unable to parse string as an integer."),)
    assert bad.updated({"maxFrames": 9}).problems == ()
