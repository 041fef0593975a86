"""`neurodebug lsp` with a real model: the checkpoint comes from the editor's settings or the env."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest
from lsprotocol import types

from neurodebug.backends import bundled_model
from tests.lsp.conftest import EXAMPLE, start, stop
from tests.lsp.test_server import execute, open_doc

pytestmark = pytest.mark.asyncio


async def test_the_model_named_in_initialization_options_predicts(cwm_checkpoint):
    # a tiny random checkpoint: its frames are nonsense, but they go through the whole stack
    client = await start([sys.executable, "-m", "neurodebug", "lsp"],
                         {"model": str(cwm_checkpoint), "maxFrames": 3, "maxFrameTokens": 12})
    try:
        uri = open_doc(client, "tiny")
        result = await execute(client, "neurodebug.predict", uri, "count", None)
        assert result["call"] == "'berry', 'r'"
        assert 1 <= result["frames"] <= 3 and result["ended"]
        assert result["end"] in ("frame_cap", "token_cap", "end_of_text")
    finally:
        await stop(client)


async def test_a_bad_model_path_is_one_sentence_and_the_server_lives_on(tmp_path):
    client = await start([sys.executable, "-m", "neurodebug", "lsp", "--model", str(tmp_path / "missing")])
    try:
        uri = open_doc(client, "nomodel")
        with pytest.raises(Exception, match=r"There is no model at .*missing\."):
            await execute(client, "neurodebug.predict", uri, "count", None)
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
        assert len(lenses) == 6
    finally:
        await stop(client)


@pytest.mark.skipif(bundled_model() is None, reason="the bundled model is not installed")
async def test_without_a_model_setting_the_bundled_model_predicts():
    env_model = os.environ.pop("NEURODEBUG_MODEL", None)
    try:
        client = await start([sys.executable, "-m", "neurodebug", "lsp"], {"maxFrames": 24})
    finally:
        if env_model is not None:
            os.environ["NEURODEBUG_MODEL"] = env_model
    try:
        uri = open_doc(client, "bundled")
        result = await execute(client, "neurodebug.compare", uri, "count", None)
        assert result["call"] == "'berry', 'r'" and 2 <= result["frames"] <= 24
        # whatever the model predicted: hints are on executed lines, diagnostics on real lines
        got = await client.text_document_inlay_hint_async(types.InlayHintParams(
            types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), types.Position(100, 0))))
        assert all(0 <= h.position.line < len(EXAMPLE.splitlines()) for h in got)
        if result["divergence"] is not None:
            await asyncio.sleep(0.2)
            assert any(d.severity == types.DiagnosticSeverity.Information for d in client.diagnostics[uri])
    finally:
        await stop(client)


@pytest.mark.skipif(bundled_model() is None, reason="the bundled model is not installed")
async def test_unsure_values_are_marked_and_the_hover_says_how_sure_and_what_else():
    """count('berry', 'r') on the bundled model with unsureBelow 0.99: the model is less sure
    than that of some value it writes; its hint ends in ' ?', and the hover of that name gives
    the probability (and the alternatives the model gives)."""
    from neurodebug.lsp.views import UNSURE_MARK

    client = await start([sys.executable, "-m", "neurodebug", "lsp"], {"maxFrames": 24, "unsureBelow": 0.99, "seed": 0})
    try:
        uri = open_doc(client, "unsure")
        await execute(client, "neurodebug.predict", uri, "count", None)
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            types.TextDocumentIdentifier(uri), types.Range(types.Position(0, 0), types.Position(100, 0))))
        unsure = [h for h in hints if h.label.endswith(UNSURE_MARK)]
        assert unsure, [h.label for h in hints]
        name = unsure[0].label.split(" = ", 1)[0]
        line = EXAMPLE.splitlines()[unsure[0].position.line]
        hover = await client.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier(uri), types.Position(unsure[0].position.line, line.index(name))))
        assert "The model was " in hover.contents.value and "% sure of" in hover.contents.value, hover.contents.value
        assert re.search(r"The prediction was \d+% likely still on the real path there", hover.contents.value)
    finally:
        await stop(client)
