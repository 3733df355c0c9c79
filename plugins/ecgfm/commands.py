"""``bench convert-weights``: a released ECG-FM checkpoint → an encoder-only safetensors file."""

from __future__ import annotations

import click


@click.command("convert-weights")
@click.argument("model", type=click.Choice(["ecg-fm"]))
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
def convert_weights_command(model: str, src: str, dst: str) -> None:
    """Convert a fairseq-signals ECG-FM checkpoint SRC (.pt) into DST (.safetensors).

    Keeps the encoder only (no optimizer state, no pretraining heads, weight norm folded)
    and stores its architecture in the file's metadata; `--weights DST` then loads it.
    """
    from pathlib import Path

    from bench.plugins.ecgfm.loader import convert

    from bench.checkpoints import CheckpointError

    if not dst.endswith(".safetensors"):
        raise click.BadParameter(f"{dst!r}: expected a .safetensors path", param_hint="DST")
    try:
        config, n_tensors = convert(src, dst)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    size_mb = Path(dst).stat().st_size / 1e6
    click.echo(
        f"wrote {dst}: {model} encoder, {n_tensors} tensors, {size_mb:.1f} MB "
        f"(width {config.embed_dim}, {config.layers} layers)"
    )
