"""The board's saliency numbers against the saliency records published in its bundles (for
:mod:`bench.leaderboard.verify`).

A ``bench saliency`` record cannot be re-derived from a bundle (it needs the cell's
weights and rendered images; each bundled record is reported not re-derivable by
:func:`bench.api.verify_bundle`), but everything the board computes FROM those records
can be recomputed, here without the board's code:

- ``saliency``: each cell of the ``## Saliency`` section (each row's largest fraction
  per task, source and tabulated metric; a row is model, init, selection, arch,
  experiment and protocol): seeds, seed values, mean, sd, the mean of the seeds' CI
  bounds, ``n``, ``n_positive`` and runs. A published cell with no bundled record behind
  it fails, and so does a bundled cell the board leaves out;
- each record's per-image scores average to its value;
- ``saliency_differences``: each pretrained HeartBEiT row (init not ``random``) minus each
  CNN row: over the ECGs both explained, the mean per-ECG difference and its percentile
  interval, from the board's recorded resample seed and count but a plain loop over the
  resamples; unpaired (``d ± z √(se₁² + se₂²)``, each se from its 95 % CI) where a record
  holds no per-image scores;
- the ``## Saliency`` section of ``LEADERBOARD.md``: every recomputed cell and difference,
  as printed;
- ``saliency_figures``: each overlay's PNG is present and its cell, run and explained
  ECGs are those of bundled records (its pixels, like the records, need the weights).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bench.leaderboard.saliency import (
    CNN_MODELS,
    HEARTBEIT,
    PAIRED,
    PAIRED_REPLICATES,
    PAIRED_SEED,
    SALIENCY_COLUMNS,
    UNPAIRED,
    Z95,
)
from bench.leaderboard.verify_files import BOARD_JSON, TOLERANCE, differ, markdown_section

from bench.api import FAIL, NOT_DERIVABLE, PASS, Check, ResultRecord, percentile_interval

#: A cell of the section: task, source, split, metric, model, init, selection, arch,
#: experiment, protocol, fraction.
Key = tuple[Any, ...]
FIELDS = ("task", "source", "split", "metric", "model", "init", "selection", "arch",
          "experiment", "protocol", "fraction")  # fmt: skip


def _key(item: ResultRecord | dict[str, Any]) -> Key:
    get = item.get if isinstance(item, dict) else lambda f: getattr(item, f)
    return tuple(get(f) for f in FIELDS)


def _label(key: Key) -> str:
    task, source, _, metric, model, init, *_, fraction = key
    return f"saliency {task}/{source} {metric} {model} ({init}) {fraction:g}"


def _mean(values: list[float | None]) -> float | None:
    if not values or any(v is None or math.isnan(v) for v in values):
        return None
    return math.fsum(v for v in values if v is not None) / len(values)


def _cell(records: list[ResultRecord]) -> dict[str, Any]:
    """A cell's published numbers, recomputed from its records (one per seed)."""
    records = sorted(records, key=lambda r: r.seed)
    values = [r.value for r in records]
    return {
        "seeds": [r.seed for r in records],
        "seed_values": {str(r.seed): r.value for r in records},
        "mean": math.fsum(values) / len(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "ci_low": _mean([r.ci_low for r in records]),
        "ci_high": _mean([r.ci_high for r in records]),
        "n": records[0].n, "n_positive": records[0].n_positive,
        "run_ids": sorted({r.run_id for r in records}),
    }  # fmt: skip


def _per_image_means(records: Sequence[ResultRecord]) -> list[Check]:
    """A record's per-image scores must average to its value (a tampered score shows)."""
    out = []
    for r in records:
        scores = [v for v in r.details.get("per_image") or [] if v is not None]
        if scores and abs(math.fsum(scores) / len(scores) - r.value) > TOLERANCE:
            where = f"saliency {r.task}/{r.source} {r.metric} {r.model} ({r.init}) seed {r.seed}"
            message = (f"its per-image scores average {math.fsum(scores) / len(scores)!r}, "
                       f"not its value {r.value!r}")  # fmt: skip
            out.append(Check(where, "saliency", FAIL, message))
    return out


def _shown_groups(records: Sequence[ResultRecord]) -> dict[Key, list[ResultRecord]]:
    """The records of every section cell: per task, source, metric and row, those of the
    largest fraction, as the section shows it."""
    groups: dict[Key, list[ResultRecord]] = {}
    for r in records:
        if r.metric in SALIENCY_COLUMNS:
            groups.setdefault(_key(r), []).append(r)
    best: dict[Key, Key] = {}
    for key in groups:
        slot = key[:-1]
        if slot not in best or key[-1] > best[slot][-1]:
            best[slot] = key
    return {key: groups[key] for key in sorted(best.values())}


def _per_image(records: list[ResultRecord]) -> dict[str, float] | None:
    """Explained ECG id → the mean of its scores over ``records``; None if one has none."""
    scored: dict[str, list[float]] = {}
    for r in records:
        ids, scores = r.details.get("record_ids"), r.details.get("per_image")
        if ids is None or scores is None or len(ids) != len(scores):
            return None
        for record_id, score in zip(ids, scores, strict=True):
            if score is not None:
                scored.setdefault(str(record_id), []).append(score)
    return {k: math.fsum(v) / len(v) for k, v in scored.items()}


def _paired(first: dict[str, float], second: dict[str, float]) -> dict[str, Any] | None:
    """The mean per-ECG difference over the shared ECGs and its percentile interval over
    the board's resamples (its seed and count), each resample's mean a plain sum."""
    shared = sorted(first.keys() & second.keys())
    if not shared:
        return None
    d = [first[k] - second[k] for k in shared]
    draws = np.random.default_rng(PAIRED_SEED).integers(len(d), size=(PAIRED_REPLICATES, len(d)))
    means = np.array([math.fsum(d[i] for i in row) / len(d) for row in draws.tolist()])
    low, high = percentile_interval(means)
    return {"diff": math.fsum(d) / len(d), "ci_low": low, "ci_high": high,
            "method": PAIRED, "n_pairs": len(d)}  # fmt: skip


def _unpaired(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any] | None:
    if None in (first["ci_low"], second["ci_low"]):
        return None
    se = [(c["ci_high"] - c["ci_low"]) / (2 * Z95) for c in (first, second)]
    d = first["mean"] - second["mean"]
    half = Z95 * math.sqrt(se[0] ** 2 + se[1] ** 2)
    return {"diff": d, "ci_low": d - half, "ci_high": d + half, "method": UNPAIRED,
            "n_pairs": None}  # fmt: skip


def _differences(
    shown: dict[Key, dict[str, Any]], groups: dict[Key, list[ResultRecord]]
) -> dict[Key, dict[str, Any]]:
    """(task, source, metric, first row, second row) → a pretrained HeartBEiT row minus a
    CNN row; a row is (model, init, selection, arch, experiment, protocol)."""
    out = {}
    for k1, first in sorted(shown.items()):
        (task, source, _, metric), row1 = k1[:4], k1[4:10]
        if row1[0] != HEARTBEIT or row1[1] == "random":
            continue
        for cnn in CNN_MODELS:
            for k2, second in sorted(shown.items()):
                row2 = k2[4:10]
                if (k2[0], k2[1], k2[3], row2[0]) != (task, source, metric, cnn):
                    continue
                a, b = _per_image(groups[k1]), _per_image(groups[k2])
                got = _paired(a, b) if a is not None and b is not None else _unpaired(first, second)
                if got is not None:
                    out[(task, source, metric, row1, row2)] = got
    return out


def _printed(cell: dict[str, Any]) -> str:
    ci = "" if cell["ci_low"] is None else f" [{cell['ci_low']:.2f}–{cell['ci_high']:.2f}]"
    return f"{cell['mean']:.2f}{ci}"


def _markdown(path: Path, shown: dict[Key, Any], diffs: dict[Key, Any]) -> list[Check]:
    if not shown:
        return []
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    section = markdown_section(text, "## Saliency")
    if section is None:
        return [Check(path.name, "saliency", FAIL, "no '## Saliency' section")]
    out = []
    for key, cell in shown.items():
        if _printed(cell) not in section:
            message = f"recomputed {_printed(cell)!r} is not printed in the Saliency section"
            out.append(Check(f"{path.name} {_label(key)}", "saliency", FAIL, message))
    for (task, source, metric, first, second), d in diffs.items():
        how = f"paired over {d['n_pairs']} ECGs" if d["method"] == PAIRED else "unpaired"
        text = f"= {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] ({how},"
        if text not in section:
            where = (f"{path.name} saliency {task}/{source} {metric} {first[0]} ({first[1]}) − "
                     f"{second[0]} ({second[1]})")  # fmt: skip
            message = f"recomputed {text!r} is not printed in the Saliency section"
            out.append(Check(where, "saliency", FAIL, message))
    return out


def _figures(folder: Path, data: dict[str, Any], records: Sequence[ResultRecord]) -> list[Check]:
    out = []
    for figure in data.get("saliency_figures", []):
        subject = f"{figure['figure']} ({figure['model']})"
        drawn = [
            r for r in records
            if (r.model, r.init, r.task, r.source, r.fraction, r.seed, r.protocol, r.run_id,
                r.details.get("method")) == (figure["model"], figure.get("init"),
                figure["task"], figure["source"], figure["fraction"], figure["seed"],
                figure["protocol"], figure["run_id"], figure["method"])
        ]  # fmt: skip
        if not (folder / figure["figure"]).is_file():
            out.append(Check(subject, "saliency figure", FAIL, "missing"))
        elif not drawn:
            message = "no bundled saliency record of its cell, run and method"
            out.append(Check(subject, "saliency figure", FAIL, message))
        elif any(list(map(str, r.details.get("record_ids", []))) != figure["record_ids"]
                 or int(r.details.get("overlay_images", 0)) != figure.get("shown", 0)
                 for r in drawn) or sorted(figure["metrics"]) != sorted(
                     {r.metric for r in drawn}):  # fmt: skip
            message = (
                "its explained ECGs, panels drawn or metrics differ from its cell's bundled records"
            )
            out.append(Check(subject, "saliency figure", FAIL, message))
        else:
            message = f"its cell's records are bundled; the overlay, like them, needs the weights ({len(drawn)} records)"
            out.append(Check(subject, "saliency figure", NOT_DERIVABLE, message))
    return out


def verify_saliency(
    folder: Path, data: dict[str, Any], records: Sequence[ResultRecord]
) -> list[Check]:
    """Every check of the module docstring; ``records``: the latest bundled saliency
    record per cell, seed and metric."""
    groups = _shown_groups(records)
    shown = {key: _cell(group) for key, group in groups.items()}
    published = {_key(cell): cell for cell in data.get("saliency", [])}
    everywhere = {_key(r) for r in records}
    out: list[Check] = _per_image_means(records)
    for key, cell in published.items():
        if key in shown:
            out += differ(BOARD_JSON, _label(key), cell, shown[key])
            continue
        why = ("not the cell the section shows (the largest fraction)" if key in everywhere
               else "no bundled saliency record behind it")  # fmt: skip
        out.append(Check(f"{BOARD_JSON} {_label(key)}", "saliency", FAIL, why))
    for key in shown.keys() - published.keys():
        message = "bundled saliency records the board does not show"
        out.append(Check(f"{BOARD_JSON} {_label(key)}", "saliency", FAIL, message))
    diffs = _differences(shown, groups)
    listed = {
        (d["task"], d["source"], d["metric"], tuple(d.get("first_row", [d["first"]])),
         tuple(d.get("second_row", [d["second"]]))): d
        for d in data.get("saliency_differences", [])
    }  # fmt: skip
    for key in sorted(listed.keys() | diffs.keys()):
        first, second = key[3], key[4]
        label = (f"saliency difference {'/'.join(key[:2])} {key[2]} {first[0]} "
                 f"({'/'.join(first[1:2])}) − {second[0]} ({'/'.join(second[1:2])})")  # fmt: skip
        if key not in diffs or key not in listed:
            why = "no bundled saliency records behind it" if key not in diffs else "not published"
            out.append(Check(f"{BOARD_JSON} {label}", "saliency", FAIL, why))
        else:
            out += differ(BOARD_JSON, label, listed[key], diffs[key])
    out += _markdown(folder / "LEADERBOARD.md", shown, diffs)
    out += _figures(folder, data, records)
    if not any(c.status == FAIL for c in out) and (shown or published):
        message = (f"{len(shown)} saliency cells and {len(diffs)} differences agree with the "
                   f"{len(records)} bundled saliency records (themselves not re-derivable)")  # fmt: skip
        out.append(Check(BOARD_JSON, "saliency", PASS, message))
    return out
