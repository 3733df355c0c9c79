"""Every port's loader cannot load wrong (tests/model_zoo/ports.py): a file that does not fit
(an encoder key missing, an unexpected key, a mis-shaped one), a file of another model, one
that needs full unpickling, a corrupt or absent one are each refused in one line naming the
file and what is wrong; ``bench convert-weights`` round-trips the committed fixture into a
file that ``bench embed`` reads to the same embeddings. What only one model has (its other
layouts, lead counts, head counts, sizes) stays in that model's folder."""

from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bench.api import CheckpointError

from .ports import PORTS, RAW_500HZ, Port, embed_cli, manifest

ports = pytest.mark.parametrize("port", PORTS, ids=[port.model for port in PORTS])


def _refusal(port: Port, host, path: Path) -> str:
    """The one-line :class:`CheckpointError` building ``port`` of ``path`` raises."""
    with pytest.raises(CheckpointError) as info:
        port.build(host, path)
    text = str(info.value)
    assert "\n" not in text, text
    return text


@ports
@pytest.mark.parametrize("edit", ["drop", "extra", "shape"])
def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_keys(
    host, tmp_path: Path, port: Port, edit: str
) -> None:
    """An encoder key missing (an error, never a silent random init), a key the model lacks
    or a mis-shaped one: refused, each offending key listed; only the head may differ."""
    state = port.state()
    if edit == "drop":
        for key in port.drop:
            del state[key]
    else:
        state.update(port.extra if edit == "extra" else port.shape)
    path = port.write(state, tmp_path)
    text = _refusal(port, host, path)
    assert text.startswith(f"{path}: ") and port.refusals[edit] in text


@ports
def test_a_file_of_another_model_is_refused(host, tmp_path: Path, port: Port) -> None:
    path = port.write({"encoder.weight": torch.zeros(2)}, tmp_path)
    text = _refusal(port, host, path)
    assert text.startswith(f"{path}: ") and re.search(port.foreign, text), text


@ports
def test_a_file_needing_full_unpickling_is_refused_in_one_line(host, tmp_path, port) -> None:
    path = tmp_path / f"trusting{port.suffix}"
    torch.save({**port.wrap(port.state()), "args": argparse.Namespace(lr=1e-4)}, path)
    text = _refusal(port, host, path)
    assert text.startswith(f"{path}: cannot read as a weights-only torch file")
    assert "argparse.Namespace, which needs full unpickling" in text
    assert f"bench convert-weights MODEL {path.name} OUT.safetensors --trust-checkpoint" in text


@ports
@pytest.mark.parametrize("content", [b"not a zip", None], ids=["corrupt", "absent"])
def test_unreadable_or_absent_files_are_refused(host, tmp_path, port, content) -> None:
    path = tmp_path / f"x{port.suffix}"
    if content is not None:
        path.write_bytes(content)
    assert _refusal(port, host, path).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "port", [port for port in PORTS if port.window], ids=[p.model for p in PORTS if p.window]
)
def test_an_encoder_for_another_window_is_refused(host, port: Port) -> None:
    """A window the input contract does not give is refused before anything is built."""
    spec = host.registries.models.get(port.model)
    assert spec.input_size(224) == port.window
    with pytest.raises(ValueError, match=f"takes {port.window}-sample windows.* gives 999"):
        spec.build(num_classes=2, profile="paper", input_size=999, weights="random")


@ports
def test_convert_weights_round_trips_the_fixture(cli, host, tmp_path: Path, port: Port) -> None:
    """``bench convert-weights MODEL`` writes safetensors and a manifest (source, its
    SHA-256, model, licence); ``bench embed`` of the converted file gives the embeddings of
    the released one."""
    dst = tmp_path / "converted" / f"{port.model}.safetensors"
    dst.parent.mkdir()
    args = ["convert-weights", port.model, str(port.checkpoint), str(dst)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    facts = manifest(dst)
    assert facts["model"] == port.model and facts["source_file"] == port.checkpoint.name
    assert facts["source_sha256"] == hashlib.sha256(port.checkpoint.read_bytes()).hexdigest()
    assert facts["licence"] == host.registries.models.get(port.model).meta.licence
    assert facts["trusted_unpickling"] is False
    assert port.metadata.items() <= facts["metadata"].items()
    released = embed_cli(cli, tmp_path, port.model, port.checkpoint, RAW_500HZ, 500)
    converted = embed_cli(cli, tmp_path, port.model, dst, RAW_500HZ, 500)
    assert released.shape[0] == 2 and np.isfinite(released).all()
    np.testing.assert_array_equal(converted, released)


@pytest.mark.parametrize("port", PORTS, ids=[port.model for port in PORTS])
def test_convert_weights_refuses_a_file_of_another_model(cli, tmp_path: Path, port) -> None:
    """Nothing is written of a file whose state is not the model's."""
    src = port.write({"encoder.weight": torch.zeros(2)}, tmp_path)
    dst = tmp_path / "out.safetensors"
    result = CliRunner().invoke(cli, ["convert-weights", port.model, str(src), str(dst)])
    assert result.exit_code == 1 and f"Error: {src}: " in result.output, result.output
    assert re.search(port.foreign, result.output) and not dst.exists()
