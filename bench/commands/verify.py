"""``bench verify``: re-derive a bundle's (or run directory's) numbers independently."""

from __future__ import annotations

from pathlib import Path

import click

from bench.host.manager import PluginHost


@click.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path, exists=True))
@click.option("-v", "--verbose", is_flag=True, help="Also list the checks that passed.")
@click.option(
    "--strict",
    is_flag=True,
    help="Count a check left undone (data not present) or a metric the reference cannot "
    "re-derive as a failure.",
)
@click.pass_context
def verify_command(ctx: click.Context, bundle: Path, verbose: bool, strict: bool) -> None:
    """Re-derive every number of BUNDLE, a run directory or a plugin's folder.

    BUNDLE is a `bench submit` .zip, a run directory, or a folder a plugin claims (the
    published leaderboard: `bench verify leaderboard`).

    Exit 1 on any failure.

    Every record is re-scored from the bundle's predictions by a reference that shares no
    code with the harness's metric kernels (scikit-learn point estimates, a plain bootstrap
    loop with the record's seed and resampling unit) and compared within 1e-9. Split
    membership is checked against the bundle's own hashes and, where the task's data is
    present (e.g. synthetic), against the canonical split the harness makes; the
    contamination check is re-run on the declared pretraining corpora. A bundle is read as
    data only (JSON, CSV, .npz without pickles); unsafe members are refused before any is
    read. Every failure is named, then the verdict.

    Any other folder is offered to the plugins (hook bench_verify_folder): the built-in
    leaderboard claims a folder holding leaderboard.json and recomputes every number of
    the published board from the bundles in its records/ folder (docs/leaderboard.md).

    \b
    Examples:
      bench verify my-model.zip
      bench verify runs/quick-1a2b3c4d --verbose
      bench verify leaderboard
    """
    from bench.submission.bundle import RUN_JSON, Bundle
    from bench.submission.checks import PASS
    from bench.submission.safety import BundleError
    from bench.submission.verify import verify_bundle

    host: PluginHost = ctx.find_root().obj
    try:
        if bundle.is_dir() and not (bundle / RUN_JSON).exists():
            verifier = host.pm.hook.bench_verify_folder(path=bundle)
            if verifier is None:
                raise BundleError(
                    f"{bundle}: not a bundle, a run directory (no {RUN_JSON}) or a folder "
                    "an installed plugin verifies (e.g. a leaderboard: no leaderboard.json)"
                )
            verdict = verifier(bundle)
        else:
            verdict = verify_bundle(Bundle.open(bundle, host), host, strict=strict)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    for check in verdict.checks:
        if verbose or check.status != PASS:
            click.echo(check.line())
    click.echo(verdict.summary())
    if not verdict.ok:
        ctx.exit(1)
