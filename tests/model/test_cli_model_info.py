"""`neurodebug model info` on the published CWM config and on a real checkpoint directory."""

from __future__ import annotations

import json
from pathlib import Path

from neurodebug.cli import main

CWM_CONFIG = Path(__file__).parent.parent / "data" / "cwm_config.json"


def test_cwm_kv_memory_at_131072_tokens(capsys):
    assert main(["model", "info", str(CWM_CONFIG), "--context", "131072", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    per_layer_token = 2 * 8 * 128 * 2  # K and V, 8 KV heads, head_dim 128, bf16
    assert d["kv_bytes"] == 16 * 131072 * per_layer_token + 48 * 8192 * per_layer_token
    assert d["kv_bytes"] == 10_200_547_328  # 9.5 GiB, against 32 GiB if all 64 layers were global
    assert d["ring_slack_bytes"] == 48 * 512 * per_layer_token
    assert (d["global_layers"], d["sliding_layers"], d["layer_pattern"]) == (16, 48, "G S S S x 16")
    assert d["kv_bytes_per_token"] == 64 * per_layer_token


def test_table_output_and_bad_path(capsys, cwm_checkpoint, tmp_path):
    assert main(["model", "info", str(cwm_checkpoint), "--context", "100"]) == 0
    out = capsys.readouterr().out
    assert "2 global, 2 sliding (window 16)" in out and "S G x 2" in out
    assert main(["model", "info", str(tmp_path / "nope")]) == 2
    assert "No checkpoint directory exists" in capsys.readouterr().err
