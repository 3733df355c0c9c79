"""What ``bench embed`` and ``bench predict`` share: their options, the engine settings
of an eval-mode pass (device, batch size, ``--precision``) and the sidecar JSON that records
what produced an output file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from bench.run.config import PROFILES

if TYPE_CHECKING:
    import torch

    from bench.training.devices import Precision


def engine(profile: str, device: str, precision: str) -> tuple[torch.device, int, bool | Precision]:
    """The device, batch size and arithmetic of an eval-mode pass under the profile's engine
    settings (the linear probe's batch size; ``precision`` ``"auto"``: the engine's, bf16
    autocast on CUDA and fp32 elsewhere, or an explicit ``fp32``/``bf16``/``fp16``)."""
    from bench.training import TrainConfig
    from bench.training.devices import resolve_device
    from bench.training.probe import probe_batch_size

    config = TrainConfig(**{**PROFILES[profile].train, "device": device})
    amp: bool | Precision = config.amp if precision == "auto" else cast("Precision", precision)
    return resolve_device(config.device), probe_batch_size(config), amp


def used_precision(precision: str, device: str) -> str:
    """What ``--precision`` means on ``device``: ``auto`` is bf16 on CUDA, fp32 elsewhere."""
    if precision != "auto":
        return precision
    from bench.training.devices import resolve_device

    return "bf16" if resolve_device(device).type == "cuda" else "fp32"


def manifest_path(output: Path) -> Path:
    """The sidecar JSON written beside ``output`` (``emb.npy`` → ``emb.manifest.json``)."""
    return output.with_name(f"{output.stem}.manifest.json")


def write_manifest(output: Path, facts: dict[str, Any]) -> Path:
    """Write what produced ``output`` (model, weights, precision, …) as its sidecar JSON."""
    import json

    from bench import __version__

    path = manifest_path(output)
    path.write_text(json.dumps({"output": output.name, **facts, "bench": __version__}, indent=2))
    return path


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def inference_options(*, weights: Decorator, output_help: str, per_segment_help: str) -> Decorator:
    """The options ``bench embed`` and ``bench predict`` share, in their ``--help`` order: the
    model, its ``weights`` option (each command's own), the output file and ``--per-segment``
    (described by ``output_help`` and ``per_segment_help``), what to read (``--task`` or
    ``--input``), the profile, the arithmetic, the device and the cache."""
    options: list[Decorator] = [
        click.option("-m", "--model", required=True, help="Model name (see `bench list`)."),
        weights,
        click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            required=True,
            help=output_help,
        ),
        click.option("--per-segment", is_flag=True, help=per_segment_help),
        click.option(
            "-p",
            "--profile",
            type=click.Choice(sorted(PROFILES)),
            default="quick",
            show_default=True,
            help="Size profile: model size and image side, as in `bench run`.",
        ),
        click.option("-t", "--task", default=None, help="Read every record of this task's cohort."),
        click.option(
            "--source", default=None, help="Data source of --task (default: the task's own)."
        ),
        click.option(
            "--source-option",
            "source_options",
            multiple=True,
            metavar="SOURCE.KEY=VALUE",
            help="Option for the data source of --task, e.g. ludb.path=/data/ludb.",
        ),
        click.option(
            "--input",
            "input_path",
            type=click.Path(exists=True, path_type=Path),
            default=None,
            help="Raw ECGs instead of a task, no labels needed: a .npy array (N, 12, samples) in "
            "mV (leads I, II, III, aVR, aVL, aVF, V1-V6; needs --fs), a folder of WFDB records or "
            "a manifest CSV (record_id, patient_id, path), records of any length and rate.",
        ),
        click.option(
            "--fs", type=float, default=None, help="Sampling rate of a .npy --input in Hz."
        ),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
            default="auto",
            show_default=True,
            help="Arithmetic of the forward pass: auto (as the linear probe: bf16 autocast on "
            "CUDA, fp32 elsewhere), fp32, or bf16/fp16 autocast on any device. Recorded in the "
            "output's <stem>.manifest.json.",
        ),
        click.option(
            "--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."
        ),
        click.option(
            "--cache-dir", default=None, help="Input cache directory (default as bench run)."
        ),
    ]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
