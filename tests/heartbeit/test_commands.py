"""``bench pretrain-tokenizer`` and ``bench pretrain`` through click, on a folder of PNGs."""

from __future__ import annotations

from pathlib import Path

import bench.plugins.heartbeit as heartbeit
import click
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.weights.checkpoints import read_metadata
from bench.weights.contamination import Corpus
from tests.heartbeit.conftest import striped_images


@pytest.fixture
def cli() -> click.Group:
    from bench.plugins.heartbeit.commands import pretrain_command

    group = click.Group("bench")
    heartbeit.bench_register_commands(group)
    group.add_command(pretrain_command)  # what `bench pretrain --model heartbeit` runs
    return group


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(striped_images(24, 48)):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.slow  # > 20 s on 2 shared cores
def test_tokenizer_then_pretrain_on_png_folder(
    cli: click.Group, png_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    tok = tmp_path / "km.safetensors"
    result = runner.invoke(cli, ["pretrain-tokenizer", "--data", str(png_folder), "--out", str(tok),
                                 "--input-size", "32", "--codes", "16", "--images", "24"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_metadata(tok)["patch_size"] == "16"
    out = tmp_path / "run"
    result = runner.invoke(cli, ["pretrain", "--data", str(png_folder), "--tokenizer-path", str(tok),
                                 "--input-size", "32", "--epochs", "1", "--batch-size", "8",
                                 "--device", "cpu", "--output", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = read_metadata(out / "heartbeit-mim.safetensors")
    assert meta["steps"] == "3" and Corpus.from_metadata(meta["corpus"]).source == "folder:pngs"
    assert meta["render_hash"] == "external"


def test_epochs_need_a_finite_corpus(cli: click.Group) -> None:
    result = CliRunner().invoke(cli, ["pretrain", "--epochs", "1"])
    assert result.exit_code == 2 and "finite corpus" in result.output


def test_dalle_needs_weights(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["pretrain", "--tokenizer", "dalle", "--output", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--tokenizer-path" in result.output


def test_only_kmeans_is_trainable(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["pretrain-tokenizer", "--tokenizer", "dalle", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2 and "not trainable" in result.output


def test_tokenizer_pooling_must_divide_the_patch(cli: click.Group, tmp_path: Path) -> None:
    out = tmp_path / "km.safetensors"
    result = CliRunner().invoke(
        cli, ["pretrain-tokenizer", "--downsample", "3", "--out", str(out), "--images", "2"]
    )
    assert result.exit_code == 2 and "downsample must be a positive divisor" in result.output
    assert not out.exists()


def test_plugin_registers_model_and_tokenizers() -> None:
    models, tokenizers = [], []
    heartbeit.bench_register_models(models.append)
    heartbeit.bench_register_tokenizers(tokenizers.append)
    assert [m.name for m in models] == ["heartbeit"] and models[0].optimizer == "adamw"
    assert {t.name for t in tokenizers} == {"kmeans", "dalle"}
