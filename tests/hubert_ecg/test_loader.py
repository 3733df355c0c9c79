"""HuBERT-ECG's loader cannot load wrong: the released layouts load the same encoder,
everything else is refused in one line naming the file and what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.hubert_ecg.builder import SIZES
from bench.plugins.hubert_ecg.loader import read_checkpoint
from bench.plugins.hubert_ecg.model import HubertEcgModel
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from bench.api import CheckpointError

from .fixtures import HF_FOLDER, LEGACY, SAFETENSORS, build, reference, window_embeddings


def _folder(tmp_path: Path, state: dict[str, torch.Tensor], **config_changes) -> Path:
    """A Hugging Face folder of ``state`` with the fixture's config.json (edited)."""
    folder = tmp_path / "folder"
    folder.mkdir()
    config = json.loads((HF_FOLDER / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **config_changes}))
    save_file(state, str(folder / "model.safetensors"))
    return folder / "model.safetensors"


def _assert_authors_embeddings(host, weights) -> None:
    spec, built = build(host, weights)
    np.testing.assert_allclose(
        window_embeddings(spec, built.module), reference(500), atol=1e-4, rtol=0
    )


def test_the_folder_itself_loads(host) -> None:
    _assert_authors_embeddings(host, HF_FOLDER)


@pytest.mark.parametrize("layout", ["weight_g", "finetuned", "dataparallel"])
def test_other_namings_of_the_same_weights_load_the_same(host, tmp_path: Path, layout) -> None:
    """The weight norm under its older torch names (``weight_g``/``weight_v``), a fine-tuned
    ``HuBERTForECGClassification`` (``hubert_ecg.`` prefix, its ``classifier``) and a
    DataParallel prefix give the authors' embeddings."""
    state = load_file(str(SAFETENSORS))
    if layout == "weight_g":
        state = {k.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"): v for k, v in state.items()}  # fmt: skip
    elif layout == "finetuned":
        state = {f"hubert_ecg.{k}": v for k, v in state.items() if "final_proj" not in k}
        state |= {"classifier.weight": torch.zeros(5, 32), "classifier.bias": torch.zeros(5)}
    else:
        state = {f"module.{k}": v for k, v in state.items()}
    _assert_authors_embeddings(host, _folder(tmp_path, state))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "hubert"}, "model_type 'hubert'; expected 'hubert_ecg'"),
        ({"do_stable_layer_norm": True}, "do_stable_layer_norm=True is not supported"),
        ({"feat_extract_norm": "layer"}, "feat_extract_norm='layer' is not supported"),
        ({"num_attention_heads": 5}, "hidden_size 32 is not divisible by num_attention_heads 5"),
    ],
)
def test_a_config_the_port_does_not_implement_is_refused(host, tmp_path, change, message):
    path = _folder(tmp_path, load_file(str(SAFETENSORS)), **change)
    with pytest.raises(CheckpointError, match=message) as info:
        build(host, path)
    assert str(info.value).startswith(str(path.with_name("config.json")))


def test_a_field_config_json_leaves_out_takes_the_transformers_default(host, tmp_path) -> None:
    """``transformers`` gives a missing field ``HubertConfig``'s default: without
    ``feat_proj_layer_norm`` and ``layer_norm_eps`` (True, 1e-5) the file loads the same;
    without ``conv_stride`` the default 7-layer stem does not fit and is refused."""
    state = load_file(str(SAFETENSORS))
    path = _folder(tmp_path, state)
    config = json.loads(path.with_name("config.json").read_text())
    for key in ("feat_proj_layer_norm", "layer_norm_eps"):
        del config[key]
    path.with_name("config.json").write_text(json.dumps(config))
    _assert_authors_embeddings(host, path)
    del config["conv_stride"]
    path.with_name("config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="must have the same non-zero length"):
        build(host, path)


def test_safetensors_without_a_config_is_refused(host, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    shutil.copy(SAFETENSORS, path)
    with pytest.raises(CheckpointError, match=r"expected config\.json beside it"):
        build(host, path)


def test_a_file_of_another_released_size_is_refused_naming_the_model(host, tmp_path) -> None:
    """The released small encoder under ``hubert-ecg`` (base): refused, naming
    ``hubert-ecg-small``; under ``hubert-ecg-small`` it loads as the small size."""
    torch.manual_seed(0)
    state = HubertEcgModel(SIZES["small"]).state_dict()
    path = _folder(tmp_path, state, **SIZES["small"].to_dict())
    with pytest.raises(CheckpointError, match="a HuBERT-ECG small checkpoint, but hubert-ecg is "
                       "the base size; use --model hubert-ecg-small"):  # fmt: skip
        build(host, path)
    _, built = build(host, path, model="hubert-ecg-small")
    assert built.arch == "HuBERT-ECG small"


@pytest.mark.parametrize(
    "model",
    ["hubert-ecg-small", "hubert-ecg", pytest.param("hubert-ecg-large", marks=pytest.mark.slow)],
)
def test_random_init_is_the_released_size(host, model: str) -> None:
    """Each name's random init is its released size, with the encoder parameters its
    ModelMeta states; the licence is non-commercial."""
    spec, built = build(host, "random", model=model)
    assert built.init == "random" and built.arch.startswith("HuBERT-ECG ")
    encoder = sum(p.numel() for p in built.module.hubert_ecg.parameters())
    assert round(encoder / 1e6, 1) == spec.meta.paper_params_m
    assert spec.meta.licence == "CC BY-NC 4.0 (non-commercial)"


@pytest.mark.parametrize("source", [SAFETENSORS, LEGACY], ids=["hf", "legacy"])
def test_a_converted_file_needs_no_config_json(cli, host, tmp_path: Path, source) -> None:
    """``bench convert-weights hubert-ecg`` of the folder or the legacy ``.pt``: one
    safetensors holding the config in its metadata, which builds the authors' encoder alone
    (the manifest and the round trip of every port: tests/model_zoo)."""
    dst = tmp_path / "alone" / "hubert.safetensors"
    dst.parent.mkdir()
    result = CliRunner().invoke(cli, ["convert-weights", "hubert-ecg", str(source), str(dst)])
    assert result.exit_code == 0, result.output
    manifest = json.loads(dst.with_name(dst.name + ".manifest.json").read_text())
    assert json.loads(manifest["metadata"]["hubert_ecg.config"])["hidden_size"] == 32
    _assert_authors_embeddings(host, dst)
    state, config = read_checkpoint(dst)
    assert config.conv_stride == (4, 2, 2, 2, 2) and "final_proj.0.weight" in state
