"""Damaged and partial checkpoints: one sentence (exit 2) from `model info`, loading and `predict`."""

from __future__ import annotations

import json
import shutil

import pytest

from neurodebug.model.checkpoint import load_transformer
from neurodebug.model.errors import ModelError
from neurodebug.cli import main
from tests.checkpoints import make_checkpoint

FACT = "def fact(n):\n    r = 1\n    while n > 1:\n        r *= n\n        n -= 1\n    return r\n"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny checkpoint without a tokenizer (vocab 512): enough for headers and loading."""
    return make_checkpoint(tmp_path_factory.mktemp("small"), tokenizer=False)


def _copy(src, tmp_path):
    return shutil.copytree(src, tmp_path / "ckpt")


def _truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _config(d, **changes):
    c = json.loads((d / "config.json").read_text())
    c.update(changes)
    (d / "config.json").write_text(json.dumps(c))


def _info(capsys, d) -> tuple[int, str]:
    rc = main(["model", "info", str(d)])
    cap = capsys.readouterr()
    return rc, cap.err.strip()


def _one_sentence(err: str) -> None:
    assert err.startswith("neurodebug: ") and "\n" not in err and "Traceback" not in err and err.endswith(")."), err


def test_whole_checkpoint_is_reported_complete(small, capsys):
    assert main(["model", "info", str(small), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights"].startswith("complete (39 tensors")


@pytest.mark.parametrize("damage, words", [
    (lambda d: _truncate(d / "model.safetensors"), "is damaged or incomplete"),
    (lambda d: _truncate(d / "model.safetensors", 0.00001), "is damaged or incomplete"),
    (lambda d: (d / "model.safetensors").write_bytes(b"\xff" * 64), "is damaged or incomplete"),
    (lambda d: (d / "model.safetensors").unlink(), "has no *.safetensors weights"),
    (lambda d: (d / "model.safetensors.index.json").write_text('{"weight_map": {"a": "gone.safetensors"}}'),
     "names gone.safetensors, which is not in"),
    (lambda d: (d / "model.safetensors.index.json").write_text("[1, 2"), "is not a valid safetensors index"),
    (lambda d: _config(d, num_hidden_layers=5, layer_types=None), "lacks the tensor model.layers.4."),
    (lambda d: _config(d, intermediate_size=100), "has shape (128, 64), but its config.json needs (100, 64)"),
], ids=["half", "header-cut", "garbage", "no-weights", "index-names-missing-shard", "index-not-json",
        "missing-layer", "wrong-shape"])
def test_damaged_weights_are_one_sentence(small, tmp_path, capsys, damage, words):
    d = _copy(small, tmp_path)
    damage(d)
    rc, err = _info(capsys, d)
    assert rc == 2 and words in err, err
    assert "\n" not in err and "Traceback" not in err
    with pytest.raises(ModelError, match="checkpoint|weight file"):
        load_transformer(d)


@pytest.mark.parametrize("config, words", [
    ("[1, 2]", "holds a JSON list, not an object"),
    ('{"model_type": "cwm"', "cannot be read as JSON"),
    (json.dumps({"num_hidden_layers": "four", "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 512,
                 "intermediate_size": 128}), "has a field of the wrong type or value"),
    (json.dumps({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 0, "vocab_size": 512,
                 "intermediate_size": 128}), "num_attention_heads 0; it must be positive"),
    (json.dumps({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 512,
                 "intermediate_size": 128, "num_key_value_heads": -2}), "no positive num_key_value_heads"),
    (json.dumps({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 512,
                 "intermediate_size": 128, "rope_parameters": "x"}), "has a field of the wrong type or value"),
], ids=["list", "cut", "string-count", "zero-heads", "negative-kv", "rope-string"])
def test_bad_config_is_one_sentence(small, tmp_path, capsys, config, words):
    d = _copy(small, tmp_path)
    (d / "config.json").write_text(config)
    rc, err = _info(capsys, d)
    assert rc == 2 and words in err and "\n" not in err and "Traceback" not in err, err


def test_predict_and_compare_on_a_truncated_checkpoint(cwm_checkpoint, tmp_path, capsys):
    d = _copy(cwm_checkpoint, tmp_path)
    _truncate(d / "model.safetensors")
    prog = tmp_path / "fact.py"
    prog.write_text(FACT)
    for cmd in ("predict", "compare"):
        assert main([cmd, str(prog), "--call", "fact(3)", "--model", str(d)]) == 2
        err = capsys.readouterr().err.strip()
        _one_sentence(err)
        assert "is damaged or incomplete" in err
    assert main(["predict", str(prog), "--call", "fact(3)", "--model", str(d), "--backend", "transformers"]) == 2
    assert "is damaged or incomplete" in capsys.readouterr().err
