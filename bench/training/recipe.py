"""Fine-tuning recipes: how a model's weights are optimised, declared per model.

A :class:`FineTuneRecipe` is the optimisation half of a cell's training (the other half,
how long to train and when to stop, is :class:`bench.training.TrainConfig`): optimiser, peak
learning rate scaled linearly to the batch, warm-up and schedule, weight decay, drop-path,
a learning-rate multiplier for the new head and layer-wise learning-rate decay for
transformers (BEiT's fine-tuning recipe, Bao et al. 2022). A model plugin declares its
recipe on its :class:`bench.host.specs.ModelSpec` (``recipe=``); :data:`PAPER_RECIPE` is the
HeartBEiT paper's (Adam, OneCycle 3e-4 → 1e-3, the model's declared optimiser) and stays
available by name (``bench run --recipe paper``). The recipe is part of every cell's
identity and every record names it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal, get_args, get_type_hints

from bench.run.provenance import stable_hash

if TYPE_CHECKING:  # torch loads when a cell trains, not when a config is read
    import torch
    from torch import nn

Schedule = Literal["onecycle", "cosine", "constant"]
Optimizer = Literal["adam", "adamw"]
SCHEDULES: tuple[str, ...] = ("onecycle", "cosine", "constant")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")


@dataclass(frozen=True)
class FineTuneRecipe:
    """How to optimise a model during fine-tuning.

    ``lr`` is the peak learning rate at batch ``reference_batch``; a run at batch ``b``
    peaks at ``lr * b / reference_batch`` (linear scaling); ``reference_batch`` None keeps
    ``lr`` at every batch (the paper's fixed rates). ``schedule``: ``"onecycle"``
    (torch's OneCycleLR starting at ``start_lr_factor`` × peak, ``warmup`` = its
    ``pct_start``) or ``"cosine"`` (linear warm-up from 0 over ``warmup`` of the planned
    steps, then cosine decay to 0) or ``"constant"`` (the same warm-up, then the peak until
    the cell stops: early stopping alone ends the cell). All are planned over the cell's own
    planned length.
    ``optimizer`` None takes the model's declared optimiser (``ModelSpec.optimizer``).
    ``layer_decay`` (transformers): block ``i`` of ``L`` learns at ``layer_decay ** (L -
    i)`` × the peak (timm's parameter grouping; applied to modules with a
    ``group_matcher``, recorded as not applied otherwise). ``head_lr_scale`` multiplies
    the learning rate of the classification head (``get_classifier()``). ``drop_path``
    enables stochastic depth in timm blocks, rising linearly to this rate in the last
    block. Biases and norms get no weight decay.
    """

    name: str = "paper"
    optimizer: Optimizer | None = None
    lr: float = 1e-3
    reference_batch: int | None = None
    schedule: Schedule = "onecycle"
    start_lr_factor: float = 0.3
    warmup: float = 0.3
    weight_decay: float = 0.0
    layer_decay: float | None = None
    head_lr_scale: float = 1.0
    drop_path: float = 0.0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"recipe {self.name!r}: schedule {self.schedule!r}: expected {SCHEDULES}"
            )
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"recipe {self.name!r}: optimizer {self.optimizer!r}: expected {OPTIMIZERS}"
            )
        if not self.lr > 0 or (self.reference_batch is not None and self.reference_batch < 1):
            raise ValueError(f"recipe {self.name!r}: expected lr > 0 and reference_batch >= 1")
        if not 0 < self.start_lr_factor <= 1:
            raise ValueError(f"recipe {self.name!r}: start_lr_factor must lie in (0, 1]")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"recipe {self.name!r}: warmup must lie in [0, 1)")
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ValueError(f"recipe {self.name!r}: layer_decay must lie in (0, 1]")
        if self.weight_decay < 0 or self.head_lr_scale <= 0 or not 0 <= self.drop_path < 1:
            raise ValueError(
                f"recipe {self.name!r}: expected weight_decay >= 0, head_lr_scale > 0 and "
                "0 <= drop_path < 1"
            )

    def peak_lr(self, batch_size: int) -> float:
        """The peak learning rate at ``batch_size`` (linear scaling from the reference)."""
        if self.reference_batch is None:
            return self.lr
        return self.lr * batch_size / self.reference_batch

    def to_dict(self) -> dict[str, Any]:
        """All settings (JSON-friendly), for identities and records."""
        return asdict(self)

    def hash(self) -> str:
        """A short stable hash of :meth:`to_dict`."""
        return stable_hash(self.to_dict())

    def with_options(self, options: Mapping[str, Any]) -> FineTuneRecipe:
        """This recipe with some settings replaced (``--recipe-option KEY=VALUE``); the
        name records the change, e.g. ``beit-quick+lr=0.0005``."""
        if not options:
            return self
        known = {f.name for f in fields(self)} - {"name"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"recipe option(s) {unknown} unknown; known: {sorted(known)}")
        values = {k: _checked_setting(k, v) for k, v in options.items()}
        suffix = ",".join(f"{k}={values[k]}" for k in sorted(values))
        return replace(self, name=f"{self.name}+{suffix}", **values)


def _checked_setting(name: str, value: Any) -> Any:
    """``value`` of recipe setting ``name``, refused naming the setting unless it has the
    setting's number type (an integer is accepted for a float setting); settings that are
    not numbers are returned as given (the recipe checks them)."""
    kinds = get_args(_SETTING_TYPES[name]) or (_SETTING_TYPES[name],)
    kind = float if float in kinds else int if int in kinds else None
    if kind is None or value is None:
        return value
    if type(value) is kind or (kind is float and type(value) is int):
        return kind(value)
    expected = "a number" if kind is float else "an integer"
    raise ValueError(f"recipe option {name}={value!r}: expected {expected}")


#: Each recipe setting's declared type (for :func:`_checked_setting`).
_SETTING_TYPES: dict[str, Any] = get_type_hints(FineTuneRecipe)

#: The HeartBEiT paper's fine-tuning (Adam/AdamW as the model declares, OneCycle 3e-4 →
#: 1e-3 whatever the batch, no weight decay, no layer decay).
PAPER_RECIPE = FineTuneRecipe()

#: What a model without a declared recipe fine-tunes with outside the paper protocol:
#: AdamW, peak 1e-3 at batch 256 (1.25e-4 at 32), 10 % warm-up then cosine, weight decay
#: 0.05 (the common recipe for CNNs and for a new head on a pretrained encoder).
DEFAULT_RECIPE = FineTuneRecipe(
    name="default",
    optimizer="adamw",
    lr=1e-3,
    reference_batch=256,
    schedule="cosine",
    warmup=0.1,
    weight_decay=0.05,
)


#: BEiT's fine-tuning recipe (Bao et al. 2022) for vision and signal transformers: AdamW,
#: 10 % warm-up then cosine, weight decay 0.05, layer-wise LR decay 0.75, drop-path 0.1,
#: peak 8e-3 at batch 256 (1e-3 at 32): the best of 1e-3/2e-3/4e-3/8e-3 in the quick
#: profile's sweep (docs/protocol.md).
TRANSFORMER_RECIPE = FineTuneRecipe(
    name="transformer-finetune",
    optimizer="adamw",
    lr=8e-3,
    reference_batch=256,
    schedule="cosine",
    warmup=0.1,
    weight_decay=0.05,
    layer_decay=0.75,
    drop_path=0.1,
)

#: Convolutional networks: AdamW at peak 1e-3 for batch 32, 10 % warm-up then cosine,
#: weight decay 0.05, no layer decay.
CNN_RECIPE = FineTuneRecipe(
    name="cnn-finetune",
    optimizer="adamw",
    lr=1e-3,
    reference_batch=32,
    schedule="cosine",
    warmup=0.1,
    weight_decay=0.05,
)


def _classifier_parameters(module: nn.Module) -> set[int]:
    from torch import nn

    get = getattr(module, "get_classifier", None)
    head = get() if callable(get) else None
    return {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()


@dataclass(frozen=True)
class Optimisation:
    """An optimiser and scheduler built from a recipe, and what of the recipe applied."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    details: dict[str, Any]


def _parameter_groups(
    module: nn.Module, recipe: FineTuneRecipe
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Parameter groups with ``lr_scale`` and ``weight_decay``, and what was applied."""
    from timm.optim import param_groups_layer_decay, param_groups_weight_decay

    no_decay = getattr(module, "no_weight_decay", None)
    skip = set(no_decay()) if callable(no_decay) else set()
    layered = recipe.layer_decay is not None and hasattr(module, "group_matcher")
    if recipe.layer_decay is not None and layered:
        groups = param_groups_layer_decay(
            module,
            weight_decay=recipe.weight_decay,
            no_weight_decay_list=skip,
            layer_decay=recipe.layer_decay,
        )
    else:
        groups = [
            {**g, "lr_scale": 1.0}
            for g in param_groups_weight_decay(
                module, weight_decay=recipe.weight_decay, no_weight_decay_list=skip
            )
        ]
    head = _classifier_parameters(module)
    out: list[dict[str, Any]] = []
    for group in groups:
        params = list(group["params"])
        body = [p for p in params if id(p) not in head]
        top = [p for p in params if id(p) in head]
        base = {k: v for k, v in group.items() if k != "params"}
        if body:
            out.append({**base, "params": body})
        if top:
            out.append({**base, "params": top, "lr_scale": base["lr_scale"] * recipe.head_lr_scale})
    applied = {
        "layer_decay_applied": layered,
        "head_lr_scale_applied": bool(head) and recipe.head_lr_scale != 1.0,
        "parameter_groups": len(out),
    }
    return out, applied


def apply_drop_path(module: nn.Module, rate: float) -> int:
    """Stochastic depth in timm blocks: each block's ``drop_path``/``drop_path1``/
    ``drop_path2`` slot gets a DropPath whose rate rises linearly from 0 to ``rate`` over
    the blocks in order. Returns how many blocks got one (0: the model has no such slot)."""
    from timm.layers import DropPath
    from torch import nn

    slots = ("drop_path", "drop_path1", "drop_path2")
    blocks = [
        m
        for m in module.modules()
        if any(isinstance(getattr(m, s, None), nn.Module) for s in slots)
    ]
    if rate <= 0 or not blocks:
        return 0
    for i, block in enumerate(blocks):
        prob = rate * i / max(1, len(blocks) - 1)
        for slot in slots:
            if isinstance(getattr(block, slot, None), nn.Module):
                setattr(block, slot, DropPath(prob) if prob > 0 else nn.Identity())
    return len(blocks)


def cosine_decay(step: int, start: int, total: int, floor: float = 0.0) -> float:
    """LR factor of a cosine decay from 1 at step ``start`` to ``floor`` at step ``total``
    (and ``floor`` after it): the decay of fine-tuning's and pretraining's schedules."""
    progress = min(1.0, (step - start) / max(1, total - start))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return floor + (1.0 - floor) * cosine


def _warmup_then(total: int, warmup: float, decay: bool) -> Callable[[int], float]:
    """LR factor per step: linear warm-up over ``warmup`` of ``total`` steps, then cosine
    decay to 0 (``decay``) or the peak."""
    warm = max(0, round(total * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return cosine_decay(step, warm, total) if decay else 1.0

    return factor


def build_optimisation(
    module: nn.Module,
    recipe: FineTuneRecipe,
    batch_size: int,
    total_steps: int,
    default_optimizer: str,
) -> Optimisation:
    """The optimiser and learning-rate schedule of ``recipe`` for ``module``, planned over
    ``total_steps`` optimiser steps at ``batch_size``."""
    import torch

    name = recipe.optimizer or default_optimizer
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    peak = recipe.peak_lr(batch_size)
    groups, applied = _parameter_groups(module, recipe)
    for group in groups:
        group["lr"] = peak * group["lr_scale"]
    optimizer = cls(groups, lr=peak)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if recipe.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=[g["lr"] for g in groups],
            total_steps=total_steps,
            pct_start=recipe.warmup,
            div_factor=1.0 / recipe.start_lr_factor,
        )
    else:
        decay = recipe.schedule == "cosine"
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _warmup_then(total_steps, recipe.warmup, decay)
        )
    details = {"optimizer": name, "peak_lr": peak, "schedule": recipe.schedule, **applied}
    return Optimisation(optimizer, scheduler, details)
