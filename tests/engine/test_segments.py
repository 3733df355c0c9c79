"""Segment models aggregate over the segments a record really has: the filled-slot rule,
embeddings against their segments (5 s, 7 s and 10 s records), the linear probe's features,
attention heads, the model's own head per task, window datasets and cell identity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.api import SignalInput
from bench.commands.embed import build_encoder, cohort_inputs, embed, segment_embeddings
from bench.data.cohort import Cohort
from bench.data.preprocess import PreprocessConfig
from bench.data.render import RenderConfig
from bench.data.signal_recipe import SegmentAggregation, apply_recipe, filled_slots
from bench.host.specs import BuiltModel, ModelSpec
from bench.run.task_data import Inputs
from bench.training import TrainConfig
from bench.training import probe as probe_module
from bench.training.datasets import ArrayDataset
from bench.training.heads import ATTENTION_PROTOCOLS, AttentionPool, protocol_model
from bench.training.probe import linear_probe
from bench.training.segments import RecordRule, WindowDataset, window_scores, window_sets
from tests.data.fixtures import synthetic_ecg

MODEL = "ecg-fm"
SEGMENT = 2500  # ECG-FM: 5 s at 500 Hz, two slots
SECONDS = (5.0, 7.0, 10.0)


def _cohort(seconds: tuple[float, ...]) -> Cohort:
    """One synthetic 500 Hz record per length in ``seconds`` (ids 0, 1, …)."""
    signals = [synthetic_ecg(i, seconds=s) for i, s in enumerate(seconds)]
    ids = [str(i) for i in range(len(signals))]
    manifest = pd.DataFrame({"record_id": ids, "patient_id": ids, "site": "A", "label": 0})
    return Cohort(
        name="lengths",
        source="test",
        source_version="1",
        manifest=manifest,
        load_signal=lambda rid: signals[int(rid)],
        cache_key=f"lengths-{'-'.join(map(str, seconds))}",
    )


@pytest.fixture
def ecgfm(host) -> ModelSpec:
    return host.registries.models.get(MODEL)


def _dataset(spec: ModelSpec, tmp_path: Path, seconds=SECONDS) -> ArrayDataset:
    dataset, ids, failed = cohort_inputs(spec, _cohort(seconds), "tiny", tmp_path / "cache")
    assert not failed and len(ids) == len(seconds)
    return dataset


def test_filled_slots_hold_after_the_recipe(ecgfm: ModelSpec) -> None:
    recipe = ecgfm.input.recipe
    flat = synthetic_ecg(3)
    flat.data[:, SEGMENT:] = 0.0  # 10 s whose last 5 s read exactly 0 mV (lead off)
    signals = [synthetic_ecg(0, seconds=s) for s in SECONDS] + [flat]
    records = np.stack([apply_recipe(sig, recipe) for sig in signals])
    expected = [[True, False], [True, False], [True, True], [True, True]]
    np.testing.assert_array_equal(filled_slots(records, SEGMENT), expected)
    np.testing.assert_array_equal(filled_slots(torch.from_numpy(records), SEGMENT), expected)
    # an all-zero record still has its first segment; a length off the grid is an error
    assert filled_slots(np.zeros((1, 12, 2 * SEGMENT)), SEGMENT).tolist() == [[True, False]]
    with pytest.raises(ValueError, match="not a multiple of the segment length"):
        filled_slots(np.zeros((1, 12, SEGMENT + 1)), SEGMENT)


def test_record_embedding_is_the_mean_of_its_real_segments(ecgfm, tmp_path) -> None:
    """5 s → its one segment; 7 s → its first 5 s (the 2 s remainder is dropped, as in
    ECG-FM's ``len // 2500``); 10 s → the mean of its two segments."""
    dataset = _dataset(ecgfm, tmp_path)
    built = build_encoder(ecgfm, "random", "tiny", seed=0)
    records = embed(built, ecgfm, dataset, "tiny", "cpu")
    segments, where = segment_embeddings(built, ecgfm, dataset, "tiny", "cpu")
    assert where["position"].tolist() == [0, 1, 2, 2]
    assert where["segment"].tolist() == [0, 0, 0, 1]
    position = where["position"].to_numpy()
    mean = np.stack([segments[position == i].mean(axis=0) for i in range(len(SECONDS))])
    np.testing.assert_allclose(records, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(records[:2], segments[:2], rtol=1e-5, atol=1e-6)
    assert not np.allclose(segments[2], segments[3], atol=1e-3)  # two different segments


def test_linear_probe_features_equal_bench_embed(ecgfm, tmp_path, monkeypatch) -> None:
    dataset = _dataset(ecgfm, tmp_path, SECONDS * 2)
    exported = embed(build_encoder(ecgfm, "random", "tiny", seed=3), ecgfm, dataset, "tiny", "cpu")
    seen: list[np.ndarray] = []
    original = probe_module.extract_features

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(probe_module, "extract_features", recording)
    labels = np.arange(len(dataset)) % 2
    train = ArrayDataset(dataset.array, dataset.rows, labels, "signal")
    config = TrainConfig(batch_size=16, max_steps=12, evaluations=2, epochs=2, device="cpu")
    built = build_encoder(ecgfm, "random", "tiny", seed=3)
    linear_probe(built, ecgfm, train, train, {}, config)
    np.testing.assert_array_equal(seen[0].astype(np.float32), exported)


@pytest.mark.parametrize("protocol", ATTENTION_PROTOCOLS)
def test_attention_heads_ignore_empty_slots(ecgfm: ModelSpec, protocol: str) -> None:
    """A 5 s record in two slots scores as the same 5 s alone in one slot."""
    torch.manual_seed(0)
    record = torch.randn(1, 12, 2 * SEGMENT)
    record[..., SEGMENT:] = 0
    built = protocol_model(build_encoder(ecgfm, "random", "tiny", 0), ecgfm, protocol, 2, record)
    module = built.module.eval()
    with torch.no_grad():
        padded, alone = module(record), module(record[..., :SEGMENT])
        torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-6)
        # what the mask prevents: the head attending to the empty slot's zero tokens too
        tokens = module._tokens(record)
        assert not torch.allclose(module.head(tokens.tokens), padded, atol=1e-4)


def test_an_all_true_mask_is_the_unmasked_attention_pool() -> None:
    """Models without segments (image models) pass no mask: nothing changes for them."""
    pool = AttentionPool(16, 3).eval()
    tokens = torch.randn(2, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(pool(tokens, torch.ones(2, 5, dtype=torch.bool)), pool(tokens))


def test_the_own_head_combines_windows_by_the_task_rules(ecgfm: ModelSpec) -> None:
    sample = torch.zeros(1, 12, 2 * SEGMENT)
    binary = protocol_model(build_encoder(ecgfm, "random", "tiny", 0), ecgfm, "finetune", 2, sample)
    assert binary.module.record_rule == RecordRule(("mean",))
    assert binary.config["segment_rules"] == ["mean"]
    built = ecgfm.build(num_classes=3, profile="quick", input_size=SEGMENT, weights="random")
    labels = ("AF", "PVC|VPB", "PR")  # cinc2021 names: ECG-FM takes the max of PVC and pacing
    multi = protocol_model(built, ecgfm, "finetune", 3, sample, labels)
    assert multi.module.record_rule == RecordRule(("mean", "max", "max"), multilabel=True)
    opaque = BuiltModel(torch.nn.Linear(2, 2), "random")
    with pytest.raises(TypeError, match="has no `record_rule`"):
        protocol_model(opaque, ecgfm, "finetune", 2, sample)


def test_segment_aggregation_declares_rules_per_label() -> None:
    aggregation = SegmentAggregation("mean", label_rules=(("pvc", "max"),))
    assert aggregation.rules(()) == ("mean",)
    assert aggregation.rules(("af", "pvc")) == ("mean", "max")
    with pytest.raises(ValueError, match="'pvc' must be one of"):
        SegmentAggregation(label_rules=(("pvc", "median"),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="declare the model's recipe"):
        SignalInput(segments=aggregation)


def test_record_rule_of_binary_and_multilabel_heads() -> None:
    logits = torch.tensor([[[0.0, 2.0], [1.0, -1.0]]])  # one record, two windows
    filled = torch.tensor([[True, True]])
    p = torch.softmax(logits, -1)[..., 1]
    mean = RecordRule(("mean",)).combine(logits, filled).softmax(-1)[:, 1]
    torch.testing.assert_close(mean, p.mean(1))
    peak = RecordRule(("max",)).combine(logits, filled).softmax(-1)[:, 1]
    torch.testing.assert_close(peak, p.amax(1))
    only_first = RecordRule(("mean",)).combine(logits, torch.tensor([[True, False]]))
    torch.testing.assert_close(only_first.softmax(-1)[:, 1], p[:, 0])
    multi = RecordRule(("mean", "max"), multilabel=True).combine(logits, filled).sigmoid()
    torch.testing.assert_close(multi, torch.stack([logits[0, :, 0].sigmoid().mean(),
                                                   logits[0, :, 1].sigmoid().amax()])[None])  # fmt: skip


def test_window_dataset_reads_each_real_segment() -> None:
    array = np.random.default_rng(0).normal(size=(4, 12, 2 * SEGMENT)).astype(np.float32)
    array[1, :, SEGMENT:] = 0  # record 1: one segment
    records = ArrayDataset(array, np.array([3, 1, 0]), np.array([1, 0, 1]), "signal")
    windows = WindowDataset(records, SEGMENT, chunk=2)
    assert windows.positions.tolist() == [0, 0, 1, 2, 2] and windows.slots.tolist() == [
        0,
        1,
        0,
        0,
        1,
    ]
    x, y = windows.__getitems__([1, 2, 4])
    np.testing.assert_array_equal(x[0], array[3, :, SEGMENT:])
    np.testing.assert_array_equal(x[1], array[1, :, :SEGMENT])
    np.testing.assert_array_equal(x[2], array[0, :, SEGMENT:])
    assert y.tolist() == [1, 0, 1]
    scores = {"internal": np.zeros(3), "internal:windows": np.arange(5.0)}
    per_record = window_scores(scores, {"internal:windows": windows})
    assert list(scores) == ["internal"]
    np.testing.assert_array_equal(per_record["internal"], [[0, 1], [2, np.nan], [3, 4]])


def test_only_segment_models_get_window_sets(host, ecgfm: ModelSpec) -> None:
    array = np.ones((2, 12, 2 * SEGMENT), dtype=np.float32)
    evals = {"internal": ArrayDataset(array, np.arange(2), np.zeros(2), "signal")}
    assert list(window_sets(ecgfm, evals)) == ["internal:windows"]
    assert window_sets(host.registries.models.get("resnet1d"), evals) == {}


def test_the_aggregation_is_part_of_a_segment_model_identity(host, ecgfm: ModelSpec) -> None:
    inputs = Inputs(PreprocessConfig(), RenderConfig())
    resnet1d = host.registries.models.get("resnet1d")
    recipe = ecgfm.input.recipe.hash()
    assert inputs.representation_hash(resnet1d) == recipe  # same recipe, no segments
    assert inputs.representation_hash(ecgfm) != recipe
    other = replace(
        ecgfm, input=replace(ecgfm.input, segments=replace(ecgfm.input.segments, rule="max"))
    )
    assert inputs.representation_hash(other) != inputs.representation_hash(ecgfm)


def test_window_dataset_needs_signals() -> None:
    with pytest.raises(ValueError, match="needs a signal dataset"):
        WindowDataset(ArrayDataset(np.zeros((1, 4, 4, 3), np.uint8), [0], [0], "image"), SEGMENT)
