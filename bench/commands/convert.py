"""``bench convert-weights``: a model's released checkpoint → safetensors plus a manifest.

The model reads its own released format (``ModelSpec.convert_weights``); this command writes
the state dict its ``build(weights=...)`` loads as ``DST`` (safetensors: tensors only, no
code) and ``DST`` + ``.manifest.json`` beside it: the source file's name and SHA-256, the
model, its licence, whether full unpickling was allowed, the harness version and the
file's own metadata. ``--weights DST`` then loads it in any run, weights-only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bench.host.manager import PluginHost

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(dst: Path) -> Path:
    """Where the manifest of converted weights ``dst`` goes (``x.safetensors.manifest.json``)."""
    return dst.with_name(dst.name + MANIFEST_SUFFIX)


def _sha256(path: Path) -> str:
    """The full SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    from bench import __version__
    from bench.weights.checkpoints import CheckpointError, save_state_dict_file

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
        state, metadata = spec.convert_weights(str(src), trust_checkpoint)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    save_state_dict_file(state, dst, metadata)
    manifest = {
        "model": model,
        "source_file": src.name,
        "source_sha256": _sha256(src),
        "licence": spec.meta.licence,
        "trusted_unpickling": trust_checkpoint,
        "harness_version": __version__,
        "metadata": dict(metadata),
        "tensors": len(state),
    }
    manifest_path(dst).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    size_mb = dst.stat().st_size / 1e6
    click.echo(
        f"wrote {dst}: {model}, {len(state)} tensors, {size_mb:.1f} MB; manifest "
        f"{manifest_path(dst)}"
    )
