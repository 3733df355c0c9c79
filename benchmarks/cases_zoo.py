"""Cost of every model: parameters, GFLOPs per window, CPU embed vs bare forward (issue 28).

``python benchmarks/run.py zoo`` runs one case per registered model (``bench list models``,
signal and image inputs). Each builds the model at its ``paper`` profile with a random
initialisation through ``bench embed``'s own builder (:func:`bench.commands.embed.
build_encoder`) and reads a few synthetic records through ``bench embed``'s cache and the
model's own recipe (:func:`bench.commands.embed.cohort_inputs`, in a temporary cache). Then,
alternately within each repeat and on the same records:

- **ours**: :func:`bench.commands.embed.embed`, what ``bench embed`` does after the cache
  (the profile's engine settings, eval mode, the features contract under ``no_grad``, a
  segment model's records cut into their real segments, mean pooling);
- **bare**: ``module(x)`` of the same module in eval mode under ``torch.no_grad()`` on the
  same batch as a tensor (normalised and in the memory format the harness feeds it), the
  model's own forward (encoder, its own pooling or record assembly, 2-class head).

The ratio of a repeat is bare seconds / ours seconds (throughput of ours relative to the
bare forward; target >= 0.9). Parameters are those of the module as built (2-class head
included); GFLOPs per window are :func:`bench.training.cost.flops_per_input` of the
features contract (what ``bench embed`` runs) on one window: one segment of a segment
model, one record input otherwise.

``BENCH_ZOO_MODELS=ecg-fm,merl`` runs those models' cases only.
``python benchmarks/cases_zoo.py [--results FILE ...] [--write docs/models.md]`` prints the
per-model table of docs/models.md from results files (default ``benchmarks/results.json``;
a model's row in a later file replaces an earlier one) or rewrites it there between its
markers. A ratio measured with ``--quick`` or under competing load shows as pending an
alone run.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Load, paired, pick, result

HERE = Path(__file__).resolve().parent
PROFILE = "paper"
#: Windows per timed batch (at least one whole record): paper-size models run at roughly
#: 1-9 s per window on 2 cores, so a repeat (ours + bare) stays near 30 s. A small model
#: gets more windows, up to :data:`MAX_WINDOWS`, until its bare forward of the batch takes
#: :data:`MIN_BARE_S`: a real ``bench embed`` runs whole batches, so fixed costs per call
#: (moving the module to its device, the batch iterator) are timed against a real batch's
#: work rather than against two windows.
WINDOWS, QUICK_WINDOWS = 2, 1
MIN_BARE_S, QUICK_MIN_BARE_S = 0.5, 0.2
MAX_WINDOWS = 32
#: Synthetic patients of the records (two or more records each: enough for MAX_WINDOWS).
PATIENTS = 16
BEGIN, END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"


@functools.cache
def _host() -> Any:
    from bench.api import get_host

    return get_host()


@functools.cache
def _cohort() -> Any:
    from bench.commands.embed import task_cohort

    return task_cohort(
        _host(), "stemi", "synthetic", {"synthetic": {"n_patients": PATIENTS}}, PROFILE
    )


@functools.cache
def _cache() -> tempfile.TemporaryDirectory[str]:
    """The cases' image cache: removed when the interpreter exits."""
    return tempfile.TemporaryDirectory(prefix="bench-zoo-cache-")


def models() -> list[str]:
    """Every registered model with a signal or image input, by name."""
    return sorted(m.name for m in _host().registries.models if m.input.kind in ("signal", "image"))


def window_of(spec: Any, row_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, str]:
    """(shape of one window, windows per record, description) of ``spec``'s input rows."""
    per_record = 1
    shape = row_shape
    samples = spec.input.segment_samples()
    if samples is not None:
        per_record = row_shape[-1] // samples
        shape = (*row_shape[:-1], samples)
    dims = " × ".join(f"{d:,}" for d in shape)
    recipe = spec.input.recipe
    if spec.input.kind == "image":
        text = f"{dims} image"
    elif recipe is not None:
        text = f"{dims} ({shape[-1] / recipe.target_fs:g} s at {recipe.target_fs:g} Hz)"
    else:
        text = dims
    return shape, per_record, text + (f"; {per_record} per record" if per_record > 1 else "")


def _features_module(spec: Any, module: Any) -> Any:
    """``module``'s features contract (``bench embed``'s tokens) as a module to count."""
    from torch import nn

    from bench.training.features import token_function

    class Features(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = module
            self.tokens = token_function(spec, module)

        def forward(self, x: Any) -> Any:
            return self.tokens(x)

    return Features()


def zoo_case(name: str) -> dict[str, Any]:
    """Build ``name`` at the paper profile, count its cost and time embed vs bare forward."""
    import torch

    from bench.commands.embed import build_encoder, cohort_inputs, embed, segment_windows
    from bench.training.cost import count_parameters, flops_per_input
    from bench.training.datasets import ArrayDataset

    spec = _host().registries.models.get(name)
    records, _, failed = cohort_inputs(spec, _cohort(), PROFILE, Path(_cache().name))
    if failed:
        raise RuntimeError(f"{name}: synthetic records could not be read: {failed}")
    row_shape = tuple(records[0][0].shape)
    window, per_record, window_text = window_of(spec, row_shape)
    built = build_encoder(spec, "random", PROFILE, seed=0)
    module = built.module.eval()

    def inputs(n_records: int) -> tuple[Any, Any]:
        if n_records > len(records):
            raise RuntimeError(f"{name}: {n_records} records needed, the cohort has {len(records)}")
        dataset = ArrayDataset(
            records.array, records.rows[:n_records], records.labels[:n_records],
            spec.input.kind, spec.input.mean, spec.input.std,
        )  # fmt: skip
        x, _ = dataset.__getitems__(range(n_records))
        if spec.input.kind == "image" and spec.input.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # as the harness feeds it
        return dataset, x

    _, first = inputs(1)
    one = first[:1, ..., : window[-1]].contiguous()  # the first window of the first record
    gflops = flops_per_input(_features_module(spec, module), one) / 1e9
    n_windows = max(pick(WINDOWS, QUICK_WINDOWS), batch_windows(module, one, per_record))
    n_records = max(1, -(-n_windows // per_record))
    dataset, x = inputs(n_records)
    n_windows = len(segment_windows(spec, dataset)[0]) if per_record > 1 else n_records

    def ours() -> None:
        embed(built, spec, dataset, PROFILE, "cpu")

    def bare() -> None:
        module.eval()
        with torch.no_grad():
            module(x)

    with Load() as load:
        timing = paired(ours, bare)
    return result(
        f"zoo.{name}.embed_windows_per_s_cpu",
        timing,
        load,
        unit="windows/s",
        per=n_windows,
        baseline_name="bare module.forward (eval, no_grad) of the same module on the same batch",
        target=">= 0.9 of the bare forward",
        ok=timing.ratio.median >= 0.9,
        notes=f"{PROFILE} profile, random init; {n_records} record(s), {n_windows} window(s) of "
        f"{window_text} per call",
        model=name,
        model_profile=PROFILE,
        params=count_parameters(module),
        gflops_per_window=gflops,
        window=window_text,
        windows_per_call=n_windows,
    )


def batch_windows(module: Any, window: Any, per_record: int) -> int:
    """Windows per timed batch for ``module``: enough for a bare forward of the batch to take
    :data:`MIN_BARE_S` (timed on one ``window`` after a warm-up), in whole records, at most
    :data:`MAX_WINDOWS`."""
    import time

    import torch

    with torch.no_grad():
        module(window)
        started = time.perf_counter()
        module(window)
        seconds = time.perf_counter() - started
    wanted = math.ceil(pick(MIN_BARE_S, QUICK_MIN_BARE_S) / max(seconds, 1e-6))
    return min(MAX_WINDOWS, per_record * math.ceil(wanted / per_record))


def _case(name: str) -> Callable[[], dict[str, Any]]:
    def case() -> dict[str, Any]:
        return zoo_case(name)

    case.__name__ = f"zoo_{name.replace('-', '_')}"
    return case


def selected() -> list[str]:
    """:func:`models`, or those named in ``$BENCH_ZOO_MODELS`` (comma-separated)."""
    everything = models()
    chosen = [m for m in os.environ.get("BENCH_ZOO_MODELS", "").split(",") if m]
    unknown = sorted(set(chosen) - set(everything))
    if unknown:
        raise ValueError(
            f"BENCH_ZOO_MODELS: unknown model(s) {', '.join(unknown)}; expected names from "
            f"{', '.join(everything)}"
        )
    return [m for m in everything if m in chosen] if chosen else everything


CASES = [_case(name) for name in selected()]


def _ratio(row: dict[str, Any]) -> str:
    """The embed/bare cell: the measured ratio with its verdict, or pending an alone run."""
    ratio, low, high = row["ratio"], row["ratio_min"], row["ratio_max"]
    if row.get("quick") or row.get("verdict") == "noisy":
        why = "--quick" if row.get("quick") else "under competing load"
        return f"pending alone run ({why}: {ratio:.2f}, {low:.2f}–{high:.2f})"
    return f"{ratio:.2f} ({low:.2f}–{high:.2f}) {row['verdict']}"


def _source(path: str, results: dict[str, Any], models: list[str]) -> str:
    env = results["environment"]
    return (
        f"`{path}` ({', '.join(models)}): `python benchmarks/run.py zoo"
        f"{' --quick' if env.get('quick') else ''}` on {env['date']}, {env['cpu_count']} CPUs, "
        f"torch {env['torch']} ({env['torch_threads']} threads); "
        f"{env.get('note') or 'no conditions noted'}"
    )


def table(sources: list[tuple[str, dict[str, Any]]]) -> str:
    """The per-model cost table (Markdown) of the ``zoo`` rows of ``(path, results file)``
    pairs; a model's row in a later file replaces its row in an earlier one."""
    rows: dict[str, tuple[int, dict[str, Any] | None]] = {}  # model → (source, row or failed)
    for i, (_, results) in enumerate(sources):
        for r in results["results"]:
            if "gflops_per_window" in r:
                rows[r["model"]] = (i, r)
            elif r["name"].startswith("cases_zoo.") and r.get("verdict") == "FAILED":
                rows[r["name"].removeprefix("cases_zoo.zoo_").replace("_", "-")] = (i, None)
    used = [
        _source(path, results, sorted(m for m, (j, _) in rows.items() if j == i))
        for i, (path, results) in enumerate(sources)
        if any(j == i for j, _ in rows.values())
    ]
    lines = [
        "Generated by `python benchmarks/cases_zoo.py --write docs/models.md` from "
        + "; ".join(used)
        + ". Paper profile, random init. Embed/bare: throughput of `bench embed`'s path over "
        "the bare `module.forward` on the same batch, median of the per-repeat ratios "
        "(min–max), target ≥ 0.9.",
        "",
        "| model | params (M) | GFLOPs per window | window | embed/bare |",
        "|---|---|---|---|---|",
    ]
    for name, (_, r) in sorted(rows.items()):
        if r is None:
            lines.append(f"| `{name}` | failed: see the run's output | | | |")
            continue
        lines.append(
            f"| `{name}` | {r['params'] / 1e6:.2f} | {r['gflops_per_window']:.2f} | "
            f"{r['window']} | {_ratio(r)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into a Markdown file between its markers."""
    parser = argparse.ArgumentParser(description="the per-model cost table of docs/models.md")
    parser.add_argument(
        "--results",
        type=Path,
        action="append",
        help="results file of benchmarks/run.py (default benchmarks/results.json); repeat it "
        "to combine runs: a model's row in a later file replaces an earlier one",
    )
    parser.add_argument("--write", type=Path, help="Markdown file to rewrite between markers")
    args = parser.parse_args(argv)
    sources = []
    for path in args.results or [HERE / "results.json"]:
        full = path.resolve()
        shown = full.relative_to(HERE.parent) if full.is_relative_to(HERE.parent) else full
        sources.append((str(shown), json.loads(path.read_text())))
    text = table(sources)
    if args.write is None:
        print(text, end="")
        return 0
    doc = args.write.read_text()
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.DOTALL)
    if not pattern.search(doc):
        print(f"{args.write}: no {BEGIN} … {END} block to rewrite", file=sys.stderr)
        return 1
    args.write.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
