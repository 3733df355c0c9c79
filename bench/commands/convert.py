"""``bench convert-weights``: a model's released checkpoint → safetensors plus a manifest
(:func:`bench.weights.conversion.convert_checkpoint`); ``--weights DST`` then loads it in any
run, weights-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bench.host.manager import PluginHost


@click.command("convert-weights")
@click.argument("model")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust-checkpoint",
    is_flag=True,
    help="Allow full unpickling of SRC, which can run code it carries: only for a file whose "
    "origin you trust (some released checkpoints store Python objects beside the weights). "
    "Recorded in the manifest.",
)
@click.pass_context
def convert_weights_command(
    ctx: click.Context, model: str, src: Path, dst: Path, trust_checkpoint: bool
) -> None:
    """Convert MODEL's released checkpoint SRC into DST (.safetensors) plus a manifest.

    \b
    Examples:
      bench convert-weights ecg-fm mimic_iv_ecg_physionet_pretrained.pt ecgfm.safetensors
      bench convert-weights ecgfounder 12_lead_ECGFounder.pth ecgfounder.safetensors
    """
    from bench.weights.checkpoints import CheckpointError
    from bench.weights.conversion import convert_checkpoint, manifest_path

    host: PluginHost = ctx.find_root().obj
    spec = host.registries.models.get(model)
    if spec.convert_weights is None:
        convertible = sorted(m.name for m in host.registries.models if m.convert_weights)
        raise click.BadParameter(
            f"model {model!r} has no released checkpoint format to convert; models that do: "
            f"{', '.join(convertible) or 'none installed'}",
            param_hint="MODEL",
        )
    if dst.suffix != ".safetensors":
        raise click.BadParameter(f"{dst}: expected a .safetensors path", param_hint="DST")
    if trust_checkpoint:
        click.echo(f"warning: unpickling {src} fully (--trust-checkpoint)", err=True)
    try:
        manifest = convert_checkpoint(spec, src, dst, trust_checkpoint)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    size_mb = dst.stat().st_size / 1e6
    click.echo(
        f"wrote {dst}: {model}, {manifest['tensors']} tensors, {size_mb:.1f} MB; manifest "
        f"{manifest_path(dst)}"
    )
