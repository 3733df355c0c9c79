"""``bench convert-weights MODEL SRC DST``: a model's released checkpoint becomes a
weights-only safetensors file with a manifest; a file that needs full unpickling converts
only with ``--trust-checkpoint``, which the manifest records."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import torch
from click.testing import CliRunner

FIXTURE = Path(__file__).parent / "ecgfounder" / "fixtures" / "12lead.pth"


def _convert(cli, *args: str):
    return CliRunner().invoke(cli, ["convert-weights", *args])


def test_a_released_file_converts_to_safetensors_with_a_manifest(cli, host, tmp_path) -> None:
    dst = tmp_path / "ecgfounder.safetensors"
    result = _convert(cli, "ecgfounder", str(FIXTURE), str(dst))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "ecgfounder.safetensors.manifest.json").read_text())
    assert manifest["model"] == "ecgfounder" and manifest["source_file"] == "12lead.pth"
    assert manifest["source_sha256"] == hashlib.sha256(FIXTURE.read_bytes()).hexdigest()
    assert manifest["trusted_unpickling"] is False and "MIT" in manifest["licence"]
    spec = host.registries.models.get("ecgfounder")
    from_release = spec.build(num_classes=2, profile="paper", input_size=5000,
                              weights=str(FIXTURE)).module.state_dict()  # fmt: skip
    from_converted = spec.build(num_classes=2, profile="paper", input_size=5000,
                                weights=str(dst)).module.state_dict()  # fmt: skip
    encoder = [k for k in from_release if not k.startswith("dense.")]
    assert encoder and all(torch.equal(from_release[k], from_converted[k]) for k in encoder)


def test_a_file_needing_full_unpickling_converts_only_when_trusted(cli, tmp_path) -> None:
    src = tmp_path / "trusting.pth"
    released = torch.load(FIXTURE, map_location="cpu", weights_only=False)
    torch.save({**released, "args": argparse.Namespace(lr=1e-4)}, src)
    dst = tmp_path / "out.safetensors"
    refused = _convert(cli, "ecgfounder", str(src), str(dst))
    assert refused.exit_code == 1 and "--trust-checkpoint" in refused.output
    assert not dst.exists()
    trusted = _convert(cli, "ecgfounder", str(src), str(dst), "--trust-checkpoint")
    assert trusted.exit_code == 0, trusted.output
    assert "unpickling" in trusted.output
    manifest = json.loads((tmp_path / "out.safetensors.manifest.json").read_text())
    assert manifest["trusted_unpickling"] is True


def test_a_model_without_a_released_format_is_refused_naming_those_with_one(cli, tmp_path):
    result = _convert(cli, "resnet1d", str(FIXTURE), str(tmp_path / "x.safetensors"))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "no released checkpoint format" in text and "ecg-fm" in text and "ecgfounder" in text
