"""Quantitative saliency scores: localisation, pointing game, focus (entropy, Gini).

Every function takes a batch of non-negative maps ``(B, H, W)`` and works on all of them
at once. Scores are invariant to scaling a map by a positive constant; a map with no mass
(zero everywhere) has no defined score and yields NaN, which the aggregates skip.
"""

from __future__ import annotations

import numpy as np


def _check_maps(maps: np.ndarray) -> np.ndarray:
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"saliency maps must be (B, H, W), got shape {maps.shape}")
    if not np.isfinite(maps).all() or (maps < 0).any():
        raise ValueError("saliency maps must be finite and non-negative")
    return maps


def _check_masks(masks: np.ndarray, maps: np.ndarray) -> np.ndarray:
    masks = np.broadcast_to(np.asarray(masks, dtype=bool), maps.shape)
    if not masks.reshape(len(maps), -1).any(axis=1).all():
        raise ValueError("every region mask must contain at least one pixel")
    return masks


def mass(maps: np.ndarray) -> np.ndarray:
    """Maps normalised to sum 1 each, ``(B, H, W)``; all-zero maps become NaN."""
    maps = _check_maps(maps)
    total = maps.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, maps / total, np.nan)


def localisation(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Share of each map's mass inside its mask divided by the mask's share of the image.

    1.0 is chance (a uniform map), ``1 / mask_share`` the maximum (all mass inside), below
    1 means the map avoids the region. ``masks`` is ``(B, H, W)`` or one ``(H, W)`` mask.
    """
    p = mass(maps)
    masks = _check_masks(masks, p)
    inside = np.where(masks, p, 0.0).sum(axis=(1, 2))
    share = masks.mean(axis=(1, 2))
    return np.asarray(inside / share)


def pointing_game(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """1.0 where the map's maximum lies inside the mask (ties: any maximum), else 0.0."""
    maps = _check_maps(maps)
    masks = _check_masks(masks, maps)
    peak = maps == maps.max(axis=(1, 2), keepdims=True)
    hit = (peak & masks).any(axis=(1, 2)).astype(np.float64)
    return np.where(maps.max(axis=(1, 2)) > 0, hit, np.nan)


def entropy(maps: np.ndarray) -> np.ndarray:
    """Shannon entropy of each normalised map divided by ``log(H*W)``: 1 = uniform
    (diffuse), 0 = all mass on one pixel (focused)."""
    p = mass(maps)
    n = p.shape[1] * p.shape[2]
    if n < 2:
        raise ValueError("entropy needs maps with at least 2 pixels")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    h = -terms.sum(axis=(1, 2)) / np.log(n)
    return np.asarray(np.where(np.isnan(p[:, 0, 0]), np.nan, h))


def gini(maps: np.ndarray) -> np.ndarray:
    """Gini coefficient of each map's pixel values: 0 = uniform, ``1 - 1/(H*W)`` = one pixel."""
    p = mass(maps).reshape(len(maps), -1)
    n = p.shape[1]
    ranked = np.sort(p, axis=1)
    weights = 2 * np.arange(1, n + 1) - n - 1
    return np.asarray(ranked @ weights / n)
