"""Error of storing cached model inputs as float16, or as int16 with one scale per lead,
instead of float32 (issue 30): measured, not applied (the cache's dtype is part of every
representation's identity).

For each distinct signal recipe of the registered models (by normalisation: z-units for
``zscore``/``zscore-record``, the 0-1 range for min-max, mV for ``none``), every record of
the committed LUDB subset and of a MIMIC-IV-ECG tree written by
``benchmarks/prepare_large.py`` goes through the recipe in float32, then is rounded to each
storage type and back; the table gives the largest and the RMS absolute error over all
samples, in the recipe's output units, and the bytes per record.

``python benchmarks/cache_storage_type.py --mimic /tmp/prepare-large/full --mimic-records 300``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LUDB = ROOT / "tests" / "ludb_subset"


def as_float16(x: np.ndarray) -> np.ndarray:
    """``x`` stored as float16 and read back as float32."""
    return x.astype(np.float16).astype(np.float32)


def as_int16_per_lead(x: np.ndarray) -> np.ndarray:
    """``x`` (leads, samples) stored as int16 with one float32 scale per lead (largest
    magnitude ↦ 32767), read back as float32."""
    peak = np.abs(x).max(axis=1, keepdims=True)
    scale = np.where(peak > 0, peak / 32767, 1).astype(np.float32)
    return (np.round(x / scale).astype(np.int16) * scale).astype(np.float32)


def records(mimic: Path | None, n_mimic: int) -> Iterator[tuple[str, object]]:
    """(source, signal) of every LUDB subset record and the first ``n_mimic`` of ``mimic``."""
    from bench.data.readers.mimic_iv_ecg import mimic_iv_ecg_table, read_mimic_iv_ecg_signal
    from bench.data.readers.wfdb_reader import read_wfdb

    for header in sorted((LUDB / "data").glob("*.hea")):
        yield "ludb", read_wfdb(header.with_suffix(""))
    if mimic is not None:
        for path in mimic_iv_ecg_table(mimic)["path"].head(n_mimic):
            yield "mimic", read_mimic_iv_ecg_signal(path)


def main() -> None:
    from bench.data.signal_recipe import apply_recipe
    from bench.host.manager import get_host

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mimic", type=Path, default=None)
    parser.add_argument("--mimic-records", type=int, default=300)
    args = parser.parse_args()
    recipes = {}
    for spec in get_host().registries.models:
        recipe = getattr(spec.input, "recipe", None)
        if recipe is not None:
            recipes.setdefault(recipe.hash(), (spec.name, recipe))
    signals = list(records(args.mimic, args.mimic_records))
    kinds = {"float16": as_float16, "int16+scale": as_int16_per_lead}
    for model, recipe in recipes.values():
        for source in ("ludb", "mimic"):
            items = [apply_recipe(s, recipe) for src, s in signals if src == source]
            if not items:
                continue
            stacked = np.stack(items).astype(np.float32)
            row: dict[str, object] = {
                "model": model,
                "normalise": recipe.normalise,
                "filters": [str(f) for f in recipe.filters],
                "source": source,
                "records": len(items),
                "item_shape": list(stacked.shape[1:]),
                "abs_max": float(np.abs(stacked).max()),
                "rms": float(np.sqrt(np.mean(stacked.astype(np.float64) ** 2))),
                "bytes_float32": stacked[0].size * 4,
                "bytes_float16": stacked[0].size * 2,
                "bytes_int16+scale": stacked[0].size * 2 + stacked.shape[1] * 4,
            }
            for name, store in kinds.items():
                error = np.stack([store(x) for x in stacked]).astype(np.float64) - stacked
                row[f"{name}_max_err"] = float(np.abs(error).max())
                row[f"{name}_rms_err"] = float(np.sqrt(np.mean(error**2)))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
