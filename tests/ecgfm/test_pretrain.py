"""ECG-FM pretraining (W2V + CMSC + RLM): the objective's parts, bench pretrain --model
ecg-fm with resume and --as-default, and the default weights it installs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.plugins.ecgfm.builder import build_ecgfm, default_checkpoint_path
from bench.plugins.ecgfm.wcr import cmsc_loss, mask_leads, span_mask
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.weights.checkpoints import read_metadata
from bench.weights.contamination import SYNTHETIC_STREAM, Corpus

from .fixtures import pretraining_model


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 6), frames=st.integers(20, 200), seed=st.integers(0, 99))
def test_span_masks_have_equal_counts_and_whole_spans(batch: int, frames: int, seed: int) -> None:
    mask = span_mask(batch, frames, 0.65, 10, 2, np.random.default_rng(seed))
    counts = mask.sum(1)
    assert (counts == counts[0]).all() and counts[0] >= 2
    assert 0.2 < counts[0] / frames <= 1.0  # overlapping spans cover less than 65 %


def test_lead_masking_zeroes_whole_leads_with_the_given_probability() -> None:
    x = torch.ones(400, 12, 50)
    masked = mask_leads(x, 0.5, torch.Generator().manual_seed(0))
    per_lead = masked.sum(-1)
    assert set(per_lead.unique().tolist()) == {0.0, 50.0}
    assert 0.45 < float((per_lead == 0).float().mean()) < 0.55


def test_cmsc_prefers_adjacent_segments_of_one_recording() -> None:
    torch.manual_seed(0)
    recordings = torch.randn(8, 16)
    paired = torch.stack([recordings, recordings + 0.01 * torch.randn(8, 16)], 1).view(16, 16)
    shuffled = paired[torch.tensor([0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1])]
    assert cmsc_loss(paired, 0.1) < 0.01 < cmsc_loss(shuffled, 0.1)


def test_loss_decreases_on_a_fixed_batch() -> None:
    model = pretraining_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    segments = torch.randn(8, 12, 400, generator=torch.Generator().manual_seed(0))
    losses = []
    for step in range(15):
        out = model.loss(segments, np.random.default_rng(step), torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.loss.detach()))
    assert np.mean(losses[-3:]) < np.mean(losses[:3])


def test_bench_pretrain_ecg_fm_resumes_and_installs_the_default(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "wcr"
    args = ["pretrain", "--model", "ecg-fm", "--batch-size", "2", "--warmup-steps", "1",
            "--device", "cpu", "--output", str(out)]  # fmt: skip
    first = CliRunner().invoke(cli, [*args, "--steps", "2"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(cli, [*args, "--steps", "3", "--resume", "--as-default"])
    assert second.exit_code == 0, second.output
    assert "done: 3 steps" in second.output
    meta = read_metadata(out / "ecgfm-wcr.safetensors")
    assert meta["kind"] == "wcr" and meta["steps"] == "3"
    # the synthetic stream is declared as what it is: sites A-C, never the external site
    assert Corpus.from_metadata(meta["corpus"]) == SYNTHETIC_STREAM
    assert "D" not in SYNTHETIC_STREAM.sites
    default = default_checkpoint_path("quick")
    assert default.is_file()
    built = build_ecgfm(num_classes=2, profile="quick", input_size=2500, weights=None)
    assert built.init == "wcr" and built.weights == str(default)
    # the records carry the pretraining budget and the runner checks the corpus
    assert built.pretraining is not None
    assert built.pretraining.to_dict() == {
        "corpus": meta["corpus"], "steps": "3", "segments": meta["segments"], "loss": meta["loss"]
    }  # fmt: skip
    random = build_ecgfm(num_classes=2, profile="quick", input_size=2500, weights="random")
    assert random.init == "random"


def test_bench_pretrain_rejects_models_without_an_objective(cli) -> None:
    result = CliRunner().invoke(cli, ["pretrain", "--model", "resnet1d"])
    assert result.exit_code == 2 and "declares no pretraining objective" in result.output


def test_pretraining_reads_a_folder_of_wfdb_records(tmp_path: Path) -> None:
    import wfdb
    from bench.plugins.ecgfm.pretrain import recordings, to_segments

    from bench.data.signal import STANDARD_LEADS

    rng = np.random.default_rng(0)
    for name, seconds in (("a", 10), ("b", 12), ("short", 3)):
        signal = rng.normal(size=(250 * seconds, 12))
        wfdb.wrsamp(name, fs=250, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                    p_signal=signal, fmt=["16"] * 12, write_dir=str(tmp_path))  # fmt: skip
    batch = next(recordings(str(tmp_path), batch_size=2, seed=0))
    assert batch.shape == (2, 12, 5000)  # 250 Hz → 500 Hz; the 3 s record is skipped
    np.testing.assert_allclose(batch.mean(axis=2), 0, atol=0.05)  # z-scored per lead
    segments = to_segments(batch, 2500, torch.device("cpu"))
    assert segments.shape == (4, 12, 2500)
    torch.testing.assert_close(segments[1], torch.from_numpy(batch[0, :, 2500:]))
    with pytest.raises(ValueError, match="neither 'synthetic' nor a folder"):
        next(recordings(str(tmp_path / "a.hea"), batch_size=2))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no WFDB records"):
        next(recordings(str(tmp_path / "empty"), batch_size=2))
