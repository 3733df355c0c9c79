"""Parsing of options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def scoring_options(command: F) -> F:
    """The bootstrap options ``bench run`` and ``bench rescore`` share (each recorded in
    every record's bootstrap recipe)."""
    stratified = click.option(
        "--bootstrap-stratified/--no-bootstrap-stratified",
        default=None,
        help="Resample positive and negative patients separately, so every bootstrap "
        "replicate keeps the test set's class balance (multi-label: 'any label positive'; "
        "survival: events); recorded in every record's bootstrap recipe. Default: off.",
    )
    min_positives = click.option(
        "--min-label-positives",
        type=click.IntRange(min=1),
        default=None,
        help="Multi-label tasks: leave labels with fewer test positives than this out of "
        "the macro scores (listed in the record's per-label details); recorded in the "
        "bootstrap recipe. Default 1: every label with both classes is scored.",
    )
    return stratified(min_positives(command))


def parse_key_values(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint=option)
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def parse_weights(values: tuple[str, ...], models: tuple[str, ...]) -> dict[str, str]:
    """``--weights PATH`` (single model) or ``--weights MODEL=PATH`` (repeatable)."""
    plain = [v for v in values if "=" not in v]
    if plain and len(models) != 1:
        raise click.BadParameter(
            "with several models use --weights MODEL=PATH", param_hint="--weights"
        )
    out = parse_key_values(tuple(v for v in values if "=" in v), "--weights")
    if plain:
        out[models[0]] = plain[-1]
    return out


def parse_source_options(values: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--source-option SOURCE.KEY=VALUE`` → {source: {key: value}} (numbers parsed)."""
    return parse_dotted_options(values, "--source-option", "SOURCE")


def parse_dotted_options(
    values: tuple[str, ...], flag: str, owner: str
) -> dict[str, dict[str, Any]]:
    """``FLAG OWNER.KEY=VALUE`` → {owner: {key: value}} (numbers parsed)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in parse_key_values(values, flag).items():
        if "." not in key:
            raise click.BadParameter(f"expected {owner}.KEY=VALUE, got {key!r}", param_hint=flag)
        owner_name, name = key.split(".", 1)
        parsed: Any = value
        for cast in (int, float):
            try:
                parsed = cast(value)
                break
            except ValueError:
                continue
        out.setdefault(owner_name, {})[name] = parsed
    return out


def parse_yaml_options(values: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``FLAG KEY=VALUE`` (``--executor-option``, ``--recipe-option``) → {key: value}, each
    VALUE read as YAML (numbers, ``5e-4`` included, booleans, ``{a: b}`` mappings)."""
    import yaml

    from bench.run.yaml_numbers import load_yaml

    out: dict[str, Any] = {}
    for key, value in parse_key_values(values, flag).items():
        try:
            out[key] = load_yaml(value) if value else value
        except yaml.YAMLError as exc:
            raise click.BadParameter(
                f"{key}={value!r} is not valid YAML ({exc})", param_hint=flag
            ) from None
    return out
