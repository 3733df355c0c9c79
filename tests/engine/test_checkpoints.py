"""State-dict files and strict loading with key/shape diagnostics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from bench.weights.checkpoints import (
    CheckpointError,
    load_into,
    load_state_dict_file,
    read_metadata,
    save_state_dict_file,
)


class Net(nn.Module):
    def __init__(self, width: int = 4, classes: int = 2) -> None:
        super().__init__()
        self.body = nn.Linear(3, width)
        self.head = nn.Linear(width, classes)


def test_safetensors_round_trip_with_metadata(tmp_path: Path) -> None:
    state = Net().state_dict()
    path = tmp_path / "m.safetensors"
    save_state_dict_file(state, path, {"init": "mim", "epoch": "3"})
    loaded = load_state_dict_file(path)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert read_metadata(path) == {"init": "mim", "epoch": "3"}
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("nest", [None, "state_dict", "model"])
def test_torch_files_load_weights_only_and_unwrap(tmp_path: Path, nest: str | None) -> None:
    state = Net().state_dict()
    path = tmp_path / "m.pth"
    torch.save(state if nest is None else {nest: state, "epoch": 3}, path)
    assert set(load_state_dict_file(path)) == set(state)


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "obj": Net()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt") as info:
        load_state_dict_file(path)
    text = str(info.value)
    assert "\n" not in text and "\x1b" not in text
    assert "it stores test_checkpoints.Net" in text and "needs full unpickling" in text


@pytest.mark.parametrize(
    "name", ["missing.safetensors", "corrupt.safetensors", "corrupt.bin", "x.npz"]
)
def test_missing_corrupt_or_unknown_files_name_the_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name != "missing.safetensors":
        path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")) as info:
        load_state_dict_file(path)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


def test_load_into_ignores_the_head_but_lists_other_mismatches() -> None:
    source = Net(classes=1000).state_dict()
    target = Net(classes=2)
    report = load_into(target, source)
    assert torch.equal(target.body.weight, source["body.weight"])
    assert "head.weight" in report.ignored and "body.weight" in report.loaded

    wrong = Net(width=5).state_dict()
    wrong["extra.bias"] = torch.zeros(1)
    del wrong["body.bias"]
    with pytest.raises(CheckpointError) as info:
        load_into(Net(width=4), wrong)
    message = str(info.value)
    assert "missing from checkpoint (1): body.bias" in message
    assert "unexpected in checkpoint (1): extra.bias" in message
    assert "body.weight: checkpoint 5x3 vs model 4x3" in message
