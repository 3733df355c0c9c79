"""Fast numpy renderer: layout, anti-aliasing, continuity, parity with matplotlib."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from bench.data.preprocess import preprocess
from bench.data.render import (
    DEFAULT_RENDER,
    RenderConfig,
    lead_row_band,
    region_mask,
    render,
    render_batch,
    sample_to_x,
)
from bench.data.render_reference import render_matplotlib, save_png
from bench.data.signal import ECGSignal

from .fixtures import synthetic_ecg

#: A pixel counts as ink at 30 % darkness (anti-aliased edges of a 1 px line are fainter).
INK = 0.3
LUDB_NAMES = {"i": "I", "ii": "II", "iii": "III", "avr": "aVR", "avl": "aVL", "avf": "aVF"}


def _ink(image: np.ndarray) -> np.ndarray:
    return 1.0 - image[..., 0].astype(float) / 255.0


def _leads(seed: int = 0) -> np.ndarray:
    return preprocess(synthetic_ecg(seed))


def test_shape_dtype_background_and_ink_in_every_row() -> None:
    image = render(_leads())
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    assert np.median(image) == 255  # white background
    ink = _ink(image)
    for lead in range(8):
        top, bottom = lead_row_band(lead, 8)
        assert ink[int(top) : int(bottom)].sum() > 100, f"no trace in row {lead}"


def test_batch_matches_single() -> None:
    batch = np.stack([_leads(s) for s in range(3)])
    images = render_batch(batch)
    for leads, image in zip(batch, images, strict=True):
        np.testing.assert_array_equal(image, render(leads))


def _ink_centroid_y(image: np.ndarray, rows: slice, columns: slice) -> float:
    ink = _ink(image)[rows, columns]
    return float((ink * np.arange(ink.shape[0])[:, None]).sum() / ink.sum())


@pytest.mark.parametrize("step_mv", [0.1, 0.2, 0.3])
def test_taller_st_elevation_moves_ink_up(step_mv: float) -> None:
    leads = np.zeros((8, 2500), dtype=np.float32)
    window = slice(1000, 1500)
    columns = slice(int(sample_to_x(1050, 2500)) + 1, int(sample_to_x(1450, 2500)))
    lower = leads.copy()
    lower[2, window] = 0.05
    higher = leads.copy()
    higher[2, window] = 0.05 + step_mv
    top, bottom = lead_row_band(2, 8)
    rows = slice(int(top), int(bottom))
    shift = _ink_centroid_y(render(lower), rows, columns) - _ink_centroid_y(
        render(higher), rows, columns
    )
    px_per_mv = 224 / 8 / DEFAULT_RENDER.mv_per_row
    assert shift == pytest.approx(step_mv * px_per_mv, abs=0.15)


def test_steep_edges_stay_connected() -> None:
    leads = np.zeros((8, 2500), dtype=np.float32)
    leads[0, 1200:] = 1.0  # a 1 mV step between two consecutive samples
    ink = _ink(render(leads))
    x = int(sample_to_x(1199.5, 2500))
    top, bottom = (int(v) for v in lead_row_band(0, 8))
    column = ink[top:bottom, x - 1 : x + 2].max(axis=1)
    covered = np.flatnonzero(column > 0.5)
    assert covered.size and (np.diff(covered) == 1).all()  # one unbroken vertical run
    assert covered.size >= 10  # 1 mV ≈ 11 px at the default scale


def test_antialias_off_gives_binary_image() -> None:
    image = render(_leads(), dataclasses.replace(DEFAULT_RENDER, antialias=False))
    assert set(np.unique(image)) <= {0, 255}


def test_region_mask_marks_window_columns() -> None:
    mask = region_mask(np.array([[1000, 1100], [3000, 3100]]), 2500)
    assert mask.shape == (224, 224) and mask.dtype == bool
    cols = np.flatnonzero(mask[0])
    assert cols.min() == int(sample_to_x(1000, 2500)) and cols.max() == int(sample_to_x(1100, 2500))
    assert (mask == mask[0]).all()  # every row


def test_render_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN/inf"):
        render(np.full((8, 100), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="expects"):
        render_batch(np.zeros((8, 100)))
    with pytest.raises(ValueError, match="mv_per_row"):
        RenderConfig(mv_per_row=0)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 12), st.integers(1, 3000)),
        elements=st.floats(-50, 50, width=32),
    ),
    st.sampled_from([32, 112, 224]),
    st.sampled_from([1.0, 0.01]),  # 0.01: within ±0.5 mV, a span well inside the image
)
def test_random_signals_never_crash_and_stay_in_bounds(
    leads: np.ndarray, size: int, gain: float
) -> None:
    """Any signal renders to a grey image whose ink lies within the vertical span its
    samples reach on the documented layout (lead i's 0 mV at the middle of band i, one band
    per ``mv_per_row``), widened by half the line width and clipped to the image: a trace
    far off the image is cut there, never wrapped or smeared over other rows."""
    config = RenderConfig(size=size)
    leads = leads * np.float32(gain)
    image = render(leads, config)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    n = len(leads)
    band = size / n
    px_per_mv = band / config.mv_per_row
    baselines = (np.arange(n) + 0.5) * band
    highest = float(np.min(baselines - leads.max(axis=1).astype(np.float64) * px_per_mv))
    lowest = float(np.max(baselines - leads.min(axis=1).astype(np.float64) * px_per_mv))
    rows = np.flatnonzero((image[..., 0] < 255).any(axis=1))  # y grows downwards
    reach = config.line_width / 2 + 1  # half a stroke, and a pixel of rounding
    assert (rows + 1 > highest - reach).all() and (rows < lowest + reach).all()


def _ludb_leads(ludb_dir: Path, record: int) -> np.ndarray:
    data, fields = wfdb.rdsamp(str(ludb_dir / "data" / str(record)))
    names = tuple(LUDB_NAMES.get(n, n.upper()) for n in fields["sig_name"])
    return preprocess(ECGSignal(data.T.astype(np.float32), float(fields["fs"]), names))


@pytest.mark.ludb
@pytest.mark.parametrize("record", [1, 7, 50, 160, 200])  # all in the committed subset
def test_parity_with_matplotlib_reference(ludb_dir: Path, record: int) -> None:
    leads = _ludb_leads(ludb_dir, record)
    ours = _ink(render(leads)) >= INK
    reference = Image.fromarray(render_matplotlib(leads, size_px=1000)).resize(
        (224, 224), Image.BOX
    )
    theirs = _ink(np.asarray(reference)) >= INK
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou >= 0.85, f"LUDB record {record}: ink IoU {iou:.3f} < 0.85"


def test_save_png_writes_reference_image(tmp_path: Path) -> None:
    path = tmp_path / "ecg.png"
    save_png(_leads(), path, size_px=200)
    assert Image.open(path).size == (200, 200)
