"""Memory-mapped image/signal cache: built once, extended incrementally, bad records listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.data import cache_index
from bench.data.cohort import Cohort, signal_digest
from bench.data.image_cache import CachedImages, CacheMissError, ImageCache
from bench.data.preprocess import DEFAULT_PREPROCESS, preprocess
from bench.data.render import RenderConfig, render
from bench.data.signal import ECGSignal

from .fixtures import synthetic_ecg

RENDER = RenderConfig(size=64)


class CountingCohort:
    """A cohort whose loader counts calls; record "bad" has NaNs, "short" lacks V1."""

    def __init__(self, ids: list[str]) -> None:
        self.calls: list[str] = []
        manifest = pd.DataFrame(
            {"record_id": ids, "patient_id": ids, "site": "a", "label": [0] * len(ids)}
        )
        self.cohort = Cohort("toy", "synthetic", "1", manifest, self._load, cache_key="toy-v1")

    def _load(self, record_id: str) -> ECGSignal:
        self.calls.append(record_id)
        sig = synthetic_ecg(int(record_id) if record_id.isdigit() else 0)
        if record_id == "bad":
            return ECGSignal(np.full_like(sig.data, np.nan), sig.fs, sig.leads)
        if record_id == "short":
            keep = [k for k, n in enumerate(sig.leads) if n != "V1"]
            return ECGSignal(sig.data[keep], sig.fs, tuple(sig.leads[k] for k in keep))
        return sig


def _images(cache: ImageCache, source: CountingCohort, ids: list[str]) -> CachedImages:
    return cache.images(source.cohort, ids, DEFAULT_PREPROCESS, RENDER, progress=False)


def test_images_are_cached_once_and_match_render(tmp_path: Path) -> None:
    ids = ["1", "2", "3"]
    source = CountingCohort(ids)
    first = _images(ImageCache(tmp_path), source, ids)
    assert sorted(source.calls) == ids
    assert isinstance(first.array, np.memmap) and first.array.shape == (3, 64, 64, 3)
    assert not first.array.flags.writeable
    expected = render(preprocess(synthetic_ecg(2)), RENDER)
    np.testing.assert_array_equal(first.array[first.row("2")], expected)
    second = _images(ImageCache(tmp_path), source, ids)
    assert len(source.calls) == 3  # nothing re-rendered
    np.testing.assert_array_equal(second.array[second.rows(ids)], first.array[first.rows(ids)])


def test_bad_records_are_listed_and_others_kept(tmp_path: Path) -> None:
    ids = ["1", "bad", "short", "4"]
    cached = _images(ImageCache(tmp_path), CountingCohort(ids), ids)
    assert set(cached.failed) == {"bad", "short"}
    assert "non-finite" in cached.failed["bad"] and "'V1'" in cached.failed["short"]
    assert len(cached.rows(["1", "4"])) == 2
    with pytest.raises(KeyError, match="'bad' failed"):
        cached.row("bad")
    with pytest.raises(KeyError, match="not in the cache"):
        cached.row("99")


def test_more_ids_extend_the_cache(tmp_path: Path) -> None:
    source = CountingCohort(["1", "2", "3", "4"])
    first = _images(ImageCache(tmp_path), source, ["1", "2"])
    kept = np.array(first.array[first.rows(["1", "2"])])
    second = _images(ImageCache(tmp_path), source, ["1", "2", "3", "4"])
    assert source.calls == ["1", "2", "3", "4"]
    assert second.array.shape[0] == 4
    np.testing.assert_array_equal(second.array[second.rows(["1", "2"])], kept)


def test_signals_share_the_mechanism(tmp_path: Path) -> None:
    source = CountingCohort(["1", "2"])
    cached = ImageCache(tmp_path).signals(source.cohort, ["1", "2"], DEFAULT_PREPROCESS,
                                          progress=False)  # fmt: skip
    assert cached.array.dtype == np.float32 and cached.array.shape == (2, 8, 2500)
    np.testing.assert_allclose(cached.array[cached.row("1")], preprocess(synthetic_ecg(1)))


def test_different_render_configs_use_different_caches(tmp_path: Path) -> None:
    source = CountingCohort(["1"])
    cache = ImageCache(tmp_path)
    small = _images(cache, source, ["1"])
    big = cache.images(source.cohort, ["1"], DEFAULT_PREPROCESS, RenderConfig(size=96),
                       progress=False)  # fmt: skip
    assert small.array.shape[1] == 64 and big.array.shape[1] == 96
    assert len(source.calls) == 2


def test_interrupted_build_keeps_finished_rows_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bench.data.image_cache.CHUNK", 1)
    source = CountingCohort(["1", "2", "3"])
    crash = source.cohort
    crash.load_signal = lambda rid: (
        (_ for _ in ()).throw(RuntimeError("killed")) if rid == "3" else source._load(rid)
    )
    with pytest.raises(RuntimeError, match="killed"):
        _images(ImageCache(tmp_path), source, ["1", "2", "3"])
    source.calls.clear()
    crash.load_signal = source._load
    cached = _images(ImageCache(tmp_path), source, ["1", "2", "3"])
    assert source.calls == ["3"]  # 1 and 2 were committed before the crash
    expected = render(preprocess(synthetic_ecg(3)), RENDER)
    np.testing.assert_array_equal(cached.array[cached.row("3")], expected)


def test_a_full_disk_is_an_error_naming_the_cache_and_keeps_the_rows_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Growing data.bin reserves its blocks: a full disk is a RunError, not a SIGBUS of a
    memory map over a sparse file (which killed the process without a word)."""
    import errno
    import os

    from bench.errors import RunError

    monkeypatch.setattr("bench.data.image_cache.CHUNK", 1)
    monkeypatch.setenv("BENCH_CACHE_WORKERS", "1")  # loads in this process, so counted
    allocate = os.posix_fallocate
    grown: list[int] = []

    def full_after_one_row(fd: int, offset: int, length: int) -> None:
        if grown:
            raise OSError(errno.ENOSPC, "No space left on device")
        grown.append(length)
        allocate(fd, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", full_after_one_row)
    source = CountingCohort(["1", "2", "3"])
    with pytest.raises(RunError, match=r"no space left on the device .* rows cached so far"):
        _images(ImageCache(tmp_path), source, ["1", "2", "3"])
    monkeypatch.setattr(os, "posix_fallocate", allocate)
    source.calls.clear()
    cached = _images(ImageCache(tmp_path), source, ["1", "2", "3"])
    assert source.calls == ["2", "3"]  # the row built before the disk filled was kept
    expected = render(preprocess(synthetic_ecg(2)), RENDER)
    np.testing.assert_array_equal(cached.array[cached.row("2")], expected)


def test_the_index_is_committed_by_time_not_after_every_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rewriting the whole index after every chunk made a build quadratic in its records:
    within COMMIT_SECONDS it is written once, at the end (or on an error, as above)."""
    from bench.data import cache_index

    writes: list[int] = []
    original = cache_index.write_index
    monkeypatch.setattr(
        cache_index,
        "write_index",
        lambda path, index: writes.append(index.n_rows) or original(path, index),
    )
    monkeypatch.setattr("bench.data.image_cache.CHUNK", 1)
    source = CountingCohort(["1", "2", "3", "4"])
    _images(ImageCache(tmp_path / "a"), source, ["1", "2", "3", "4"])
    assert writes == [4]
    clock = iter(range(0, 10_000, 100))  # every reading of the clock is 100 s later
    monkeypatch.setattr(cache_index, "_clock", lambda: float(next(clock)))
    monkeypatch.setattr(cache_index, "COMMIT_SECONDS", 0.0)
    monkeypatch.setattr(cache_index, "COMMIT_SHARE", 1.0)
    writes.clear()
    _images(ImageCache(tmp_path / "b"), source, ["1", "2", "3", "4"])
    assert writes == [1, 2, 3, 4]  # after every chunk once committing is due


def test_a_record_whose_file_changed_is_built_again_and_only_it(tmp_path: Path) -> None:
    """Each record's file fingerprint (size, mtime) is kept in the index: a rewritten file
    rebuilds that record's row, a failed record whose file changed is tried again."""
    ids = ["1", "2", "bad"]
    source = CountingCohort(ids)
    for record_id in ids:
        (tmp_path / f"{record_id}.dat").write_bytes(b"x")
    source.cohort.manifest["path"] = [str(tmp_path / r) for r in ids]
    _images(ImageCache(tmp_path / "cache"), source, ids)
    source.calls.clear()
    for record_id in ("2", "bad"):
        (tmp_path / f"{record_id}.dat").write_bytes(b"longer")
    again = _images(ImageCache(tmp_path / "cache"), source, ids)
    assert source.calls == ["2", "bad"]
    assert set(again.failed) == {"bad"} and again.array.shape[0] == 3  # "2" got a new row
    np.testing.assert_array_equal(
        again.array[again.row("2")], render(preprocess(synthetic_ecg(2)), RENDER)
    )


def test_an_index_of_the_first_layout_is_read_and_replaced(tmp_path: Path) -> None:
    """A cache whose index is the version-1 ``index.json`` (dicts of every record) keeps its
    rows: only the records it lacks are built, and the index is rewritten as ``index.npz``."""
    import json

    source = CountingCohort(["1", "2", "3", "bad"])
    first = _images(ImageCache(tmp_path), source, ["1", "2", "bad"])
    (folder,) = tmp_path.iterdir()
    with np.load(folder / "index.npz") as stored:
        header = json.loads(stored["header"].tobytes())
    legacy = {**{k: header[k] for k in ("key", "item_shape", "dtype", "n_rows")}, "version": 1,
              "rows": {"1": first.row("1"), "2": first.row("2")}, "failed": first.failed}  # fmt: skip
    (folder / "index.json").write_text(json.dumps(legacy))
    (folder / "index.npz").unlink()
    source.calls.clear()
    cached = _images(ImageCache(tmp_path), source, ["1", "2", "3", "bad"])
    assert source.calls == ["1", "2", "3"]  # 1 and 2 read again for their digests only
    assert cached.failed == first.failed and cached.row("3") == 2
    np.testing.assert_array_equal(cached.digests(["1", "2"]), first.digests(["1", "2"]))
    assert sorted(p.name for p in folder.iterdir()) == ["data.bin", "index.npz"]
    np.testing.assert_array_equal(
        cached.array[cached.rows(["1", "3"])],
        np.stack([render(preprocess(synthetic_ecg(k)), RENDER) for k in (1, 3)]),
    )
    with pytest.raises(KeyError, match="'bad' failed"):
        cached.rows(["1", "bad"])


def test_each_row_keeps_the_digest_of_the_signal_it_was_made_of(tmp_path: Path) -> None:
    """Every representation of a record stores the digest of the same decoded signal; a
    sample, the sampling rate or a lead name changes it, where the file lies does not."""
    source = CountingCohort(["1", "2", "bad"])
    images = _images(ImageCache(tmp_path), source, ["1", "2", "bad"])
    signals = ImageCache(tmp_path).signals(source.cohort, ["1", "2"], DEFAULT_PREPROCESS, False)
    expected = [signal_digest(synthetic_ecg(k)) for k in (1, 2)]
    assert images.digests(["2", "1"]).tolist() == expected[::-1]
    assert signals.digests(["1", "2"]).tolist() == expected and expected[0] != expected[1]
    with pytest.raises(KeyError, match="'bad' failed"):
        images.digests(["bad"])
    sig = synthetic_ecg(1)
    edited = sig.data.copy()
    edited[3, 100] += 1e-3
    assert signal_digest(ECGSignal(edited, sig.fs, sig.leads)) != expected[0]
    assert signal_digest(ECGSignal(sig.data, sig.fs / 2, sig.leads)) != expected[0]
    assert signal_digest(ECGSignal(sig.data, sig.fs, sig.leads[::-1])) != expected[0]
    assert signal_digest(ECGSignal(sig.data.copy(), sig.fs, tuple(sig.leads))) == expected[0]


def test_an_index_of_version_2_gets_digests_without_rebuilding_its_rows(tmp_path: Path) -> None:
    """An index written before digests (version 2: no ``digests`` array) keeps its rows;
    a cache opened without building refuses it, a build reads each cached record again for
    its digest only (no row is written) and commits an index of the current version."""
    import json

    source = CountingCohort(["1", "2", "bad"])
    first = _images(ImageCache(tmp_path), source, ["1", "2", "bad"])
    (folder,) = tmp_path.iterdir()
    with np.load(folder / "index.npz") as stored:
        arrays = {k: stored[k] for k in ("header", "ids", "rows", "fingerprints")}
    header = {**json.loads(arrays["header"].tobytes()), "version": 2}
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(folder / "index.npz", **arrays)
    size = (folder / "data.bin").stat().st_size
    with pytest.raises(CacheMissError, match=r"2 record.*lack their signal digest"):
        ImageCache(tmp_path).images(
            source.cohort, ["1", "2"], DEFAULT_PREPROCESS, RENDER, progress=False, build=False
        )
    source.calls.clear()
    cached = _images(ImageCache(tmp_path), source, ["1", "2", "bad"])
    assert sorted(source.calls) == ["1", "2"] and (folder / "data.bin").stat().st_size == size
    assert cached.rows(["1", "2"]).tolist() == first.rows(["1", "2"]).tolist()
    assert cached.digests(["1", "2"]).tolist() == first.digests(["1", "2"]).tolist()
    assert cached.failed == first.failed
    with np.load(folder / "index.npz") as stored:
        assert json.loads(stored["header"].tobytes())["version"] == cache_index.INDEX_VERSION
        assert stored["digests"].dtype == np.uint64
    source.calls.clear()
    _images(ImageCache(tmp_path), source, ["1", "2", "bad"])
    assert source.calls == []
