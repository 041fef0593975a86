"""WiSE-FT: a fine-tune interpolated with its base, tensor by tensor, in the fine-tune's layout."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from neurodebug.model import load_model
from neurodebug.training import interpolate
from neurodebug.training.train import shard_checkpoint
from tests.checkpoints import make_checkpoint


def test_the_interpolated_checkpoint_is_the_weighted_mean_and_loads(tmp_path):
    base = make_checkpoint(tmp_path / "base", seed=0, tokenizer=False)
    tuned = make_checkpoint(tmp_path / "tuned", seed=1, tokenizer=False)
    shard_checkpoint(tuned, max_bytes=200_000)  # the fine-tune sharded, the base not: the layout is the fine-tune's
    assert (tuned / "model.safetensors.index.json").is_file()
    assert interpolate.main([str(base), str(tuned), str(tmp_path / "mixed"), "--weight", "0.25"]) == 0
    mixed = interpolate.read_tensors(tmp_path / "mixed")
    a, b = interpolate.read_tensors(base), interpolate.read_tensors(tuned)
    assert set(mixed) == set(a) == set(b)
    for k, t in mixed.items():
        torch.testing.assert_close(t, 0.25 * b[k] + 0.75 * a[k])
    assert interpolate.weight_files(tmp_path / "mixed") == interpolate.weight_files(tuned)
    load_model(str(tmp_path / "mixed"))  # a checkpoint like any other


def test_models_of_other_shapes_are_one_sentence(tmp_path, capsys):
    base = make_checkpoint(tmp_path / "base", hidden=32, tokenizer=False)
    tuned = make_checkpoint(tmp_path / "tuned", hidden=64, tokenizer=False)
    capsys.readouterr()
    assert interpolate.main([str(base), str(tuned), str(tmp_path / "mixed")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurodebug: ") and "are not the same model: tensor " in err and err.endswith("another shape.")
    assert interpolate.main([str(base), str(tmp_path / "nothing"), str(tmp_path / "mixed")]) == 2
    assert capsys.readouterr().err.strip() == f"neurodebug: There is no folder '{tmp_path / 'nothing'}'."
    (tmp_path / "empty").mkdir()
    assert interpolate.main([str(base), str(tmp_path / "empty"), str(tmp_path / "mixed")]) == 2
    assert capsys.readouterr().err.strip().endswith("holds no model.safetensors (nor an index of shards).")


@pytest.mark.parametrize("weight", ["1.5", "-0.1"])
def test_a_weight_outside_0_and_1_is_refused(tmp_path, capsys, weight):
    base = make_checkpoint(tmp_path / "base", tokenizer=False)
    capsys.readouterr()
    assert interpolate.main([str(base), str(base), str(tmp_path / "mixed"), "--weight", weight]) == 2
    assert capsys.readouterr().err.strip() == f"neurodebug: --weight {float(weight)} is not between 0 and 1."
