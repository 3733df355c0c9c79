"""Quantitative Grad-CAM saliency: localisation in the clinically relevant ECG segment,
focus (entropy, Gini) and ROAD faithfulness, plus overlays (``bench saliency``).

The metrics plugin calls :func:`register_saliency` from ``bench_register_metrics`` and
:func:`add_saliency_command` from ``bench_register_commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

    from bench.specs import MetricSpec


def register_saliency(register: Callable[[MetricSpec], None]) -> None:
    """Register the saliency metrics (kind ``"saliency"``) with ``register``."""
    from plugins.metrics.saliency.metrics import saliency_metric_specs

    for spec in saliency_metric_specs():
        register(spec)


def add_saliency_command(cli: click.Group) -> None:
    """Attach ``bench saliency`` to ``cli``."""
    from plugins.metrics.saliency.command import saliency_command

    cli.add_command(saliency_command)
