"""`neurodebug lsp`: stdio by default (see test_model.py), or TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.lsp.conftest import EXAMPLE, ROOT
from tests.subprocesses import neurodebug_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.asyncio
async def test_tcp_server_answers_on_localhost():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neurodebug", "lsp", "--tcp", str(port)], cwd=ROOT,
                            env=neurodebug_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = make_test_lsp_client()
    try:
        for _ in range(400):  # until it listens (a probe connection would end pygls' one session)
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except ConnectionRefusedError:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(client.initialize_session(
            types.InitializeParams(capabilities=client_capabilities("neovim"))), 30)
        uri = "file:///neurodebug-test/tcp.py"
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=EXAMPLE)))
        lenses = await asyncio.wait_for(client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri))), 30)
        assert [lens.command.arguments[1] for lens in lenses] == ["count", "count", "ratio", "ratio", "square", "square"]
        await asyncio.wait_for(client.shutdown_async(None), 30)
        client.exit(None)
        assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
        await client.stop()


def test_a_bad_port_is_one_sentence():
    proc = subprocess.run([sys.executable, "-m", "neurodebug", "lsp", "--tcp", "70000"], cwd=ROOT, env=neurodebug_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "neurodebug: --tcp needs a port between 1 and 65535, not 70000."
