"""``bench submit``: pack a finished run into a submission bundle (one ``.zip``)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.host.manager import PluginHost


@click.command("submit")
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The bundle to write (BUNDLE.zip).",
)
@click.pass_context
def submit_command(ctx: click.Context, run_dir: Path, output: Path) -> None:
    """Pack RUN_DIR's records, predictions and splits into one bundle for the leaderboard.

    The bundle (a .zip of JSON and CSV only) holds every finished cell's result records and
    predictions, the split manifest with each cell's split-membership hashes, the run's
    configuration and environment (harness version, git sha, package versions, device;
    Python and platform of this machine) and each model's declared pretraining corpora and
    licence, from its installed plugin. Checkpoints and caches stay behind. Check it with
    `bench verify BUNDLE.zip`, then open a pull request adding it (docs/leaderboard.md).

    \b
    Examples:
      bench submit runs/quick-1a2b3c4d -o my-model.zip
    """
    from bench.submission.bundle import write_bundle
    from bench.submission.safety import BundleError

    host: PluginHost = ctx.find_root().obj
    try:
        manifest = write_bundle(run_dir, output, host)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    size = output.stat().st_size
    click.echo(
        f"wrote {output} ({size / 1e6:,.2f} MB, {len(manifest['files']) + 1} members; "
        f"models: {', '.join(manifest['models'])}); check it with `bench verify {output}`"
    )
