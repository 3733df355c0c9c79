"""Region masks from fiducials through the renderer's geometry (synthetic and LUDB)."""

from __future__ import annotations

import numpy as np
from bench.plugins.metrics.saliency.regions import region_masks, region_windows

from bench.data.fiducials import Fiducials
from bench.data.preprocess import PreprocessConfig, preprocess
from bench.data.render import RenderConfig, render

PREP = PreprocessConfig()


def test_windows_are_rescaled_to_500_hz_and_cut_to_the_rendered_5_s() -> None:
    fid = Fiducials(
        fs=250.0,
        qrs_onset=np.array([100.0, 600.0, 1240.0, 1400.0]),
        qrs_offset=np.array([125.0, 625.0, 1265.0, 1425.0]),
        t_onset=np.array([170.0, 670.0, 1310.0, 1470.0]),
        t_offset=np.array([230.0, 730.0, 1370.0, 1530.0]),
    )
    np.testing.assert_allclose(
        region_windows(fid, "qrs", PREP), [[200, 250], [1200, 1250], [2480, 2499]]
    )
    np.testing.assert_allclose(region_windows(fid, "st", PREP)[0], [250, 340])


def test_ludb_qrs_masks_match_the_cardiologist_annotations(ludb_dir) -> None:
    """LUDB annotates from about 1 s into each record, so the QRS windows cover 5-13 % of
    the rendered 5 s (3-5 beats); the mask adds at most one pixel column per window edge.
    Up to 12 records with normal conduction (a bundle branch block or a paced beat can
    widen the QRS past 160 ms)."""
    from bench.data.readers.ludb import ludb_table, read_ludb_fiducials

    config = RenderConfig(size=224)
    table = ludb_table(ludb_dir)
    normal = (table["Conduction abnormalities"] == "") & (table["Cardiac pacing"] == "")
    fids = [read_ludb_fiducials(ludb_dir, r) for r in table.loc[normal, "record_id"][:12]]
    assert len(fids) >= 8
    masks = region_masks(fids, "qrs", PREP, config)
    assert (masks == masks[:, :1]).all()  # whole columns: every lead at the same instants
    for fid, mask in zip(fids, masks, strict=True):
        windows = region_windows(fid, "qrs", PREP)
        whole = windows[windows[:, 1] < PREP.n_samples - 1]  # not cut at the 5 s edge
        widths_ms = (whole[:, 1] - whole[:, 0]) / PREP.target_fs * 1000
        assert ((widths_ms > 50) & (widths_ms < 160)).all(), widths_ms
        annotated = (windows[:, 1] - windows[:, 0] + 1).sum() / PREP.n_samples
        slack = 2 * len(windows) / config.size
        assert annotated - 1e-9 <= mask[0].mean() <= annotated + slack
    assert 0.05 <= np.median(masks.mean(axis=(1, 2))) <= 0.15


def test_ludb_qrs_columns_are_where_the_trace_moves(ludb_dir) -> None:
    from bench.data.readers.ludb import read_ludb_fiducials, read_ludb_signal

    config = RenderConfig(size=224)
    fid = read_ludb_fiducials(ludb_dir, "1")
    qrs = region_masks([fid], "qrs", PREP, config)[0, 0]
    image = render(preprocess(read_ludb_signal(ludb_dir, "1"), PREP), config)
    ink_rows = (image[..., 0] < 128).sum(axis=0)  # inked pixels per column, all leads
    assert ink_rows[qrs].mean() > 1.5 * ink_rows[~qrs].mean()
    st = region_masks([fid], "st", PREP, config)[0, 0]
    assert st.any() and (st & qrs).sum() <= 0.2 * st.sum()  # the ST segment follows the QRS
