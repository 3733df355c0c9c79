"""Input representations: what a model is fed, as one type per kind instead of branches.

A model declares one representation (:attr:`bench.host.specs.ModelSpec.input`):

- :class:`ImageInput`: the paper's rendered ECG image, ``3 × S × S`` normalised with the
  model's ``mean``/``std``, drawn by the run's preprocessing and render recipe;
- :class:`SignalInput`: ``leads × samples`` float32 in mV, either the image recipe's
  filtered signals (no ``recipe``) or the model's own :class:`SignalRecipe`, optionally
  encoded segment by segment (``segments``, a *segment model*).

Each answers the questions the harness used to answer with ``if input_kind == …``: the
key of its cached array, the hash of everything that turns a raw ECG into it, how to
build that cache, the size its builder receives, and the identity fields of a cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from bench.data.signal_recipe import SegmentAggregation, SignalRecipe
from bench.run.provenance import stable_hash

if TYPE_CHECKING:
    from bench.data.cohort import Cohort
    from bench.data.image_cache import CachedImages, ImageCache
    from bench.data.preprocess import PreprocessConfig
    from bench.data.render import RenderConfig

InputKind = Literal["image", "signal"]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


class InputRepresentation(Protocol):
    """What every representation answers (see the module docstring)."""

    kind: ClassVar[InputKind]

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-channel mean an image is normalised with (ImageNet's for signals: unused)."""
        ...

    @property
    def std(self) -> tuple[float, ...]:
        """Per-channel std an image is normalised with (ImageNet's for signals: unused)."""
        ...

    @property
    def channels_last(self) -> bool:
        """Whether batches and the module use the channels-last memory format."""
        ...

    @property
    def recipe(self) -> SignalRecipe | None:
        """The model's own signal recipe, which cuts a record into segment slots (``None``:
        the image recipe's input)."""
        ...

    @property
    def segments(self) -> SegmentAggregation | None:
        """How a *segment model* makes a record of its segments (``None``: not one)."""
        ...

    def segment_samples(self) -> int | None:
        """Samples of one segment of a segment model (``None``: not a segment model)."""
        ...

    def key(self) -> str:
        """The cached array that feeds the model: ``image``, ``signal`` or
        ``signal-<recipe hash>`` (models with equal keys share one cache)."""
        ...

    def hash(self, preprocess: PreprocessConfig, render: RenderConfig) -> str:
        """Hash of everything that turns a raw ECG into this input (cell identity)."""
        ...

    def build(
        self,
        cache: ImageCache,
        cohort: Cohort,
        ids: Sequence[str],
        preprocess: PreprocessConfig,
        render: RenderConfig,
        build: bool = True,
    ) -> CachedImages:
        """The cached inputs of ``ids``, built where missing (``build=False``: only opened;
        a record missing from the cache is a :class:`bench.data.image_cache.CacheMissError`)."""
        ...

    def input_size(self, image_size: int) -> int:
        """What the model's builder receives as ``input_size`` in a run of ``image_size`` px."""
        ...

    def item_shape(self, preprocess: PreprocessConfig, render: RenderConfig) -> tuple[int, ...]:
        """The shape of one record's model input (the run's throughput measurement)."""
        ...

    def item_bytes(self, preprocess: PreprocessConfig, render: RenderConfig) -> int:
        """Bytes one record takes in this input's cache (a dry run's disk estimate)."""
        ...

    def identity(self) -> dict[str, Any]:
        """The fields of a cell's identity that say how inputs are fed."""
        ...


@dataclass(frozen=True)
class ImageInput:
    """A rendered ECG image normalised with ``mean``/``std`` (ImageNet's by default)."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels_last: bool = False
    kind: ClassVar[InputKind] = "image"

    @property
    def recipe(self) -> None:
        """Images follow the run's preprocessing and render recipe, never a model's own."""
        return None

    @property
    def segments(self) -> None:
        """An image is one input, never segments."""
        return None

    def segment_samples(self) -> None:
        """An image is one input, never segments."""
        return None

    def key(self) -> str:
        """Every image model of a run shares the one rendered cache."""
        return "image"

    def hash(self, preprocess: PreprocessConfig, render: RenderConfig) -> str:
        """The preprocessing and render recipes."""
        return stable_hash([preprocess.hash(), render.hash()])

    def build(
        self,
        cache: ImageCache,
        cohort: Cohort,
        ids: Sequence[str],
        preprocess: PreprocessConfig,
        render: RenderConfig,
        build: bool = True,
    ) -> CachedImages:
        """Preprocessed and rendered images."""
        return cache.images(cohort, ids, preprocess, render, build=build)

    def input_size(self, image_size: int) -> int:
        """The image side in pixels."""
        return image_size

    def item_shape(self, preprocess: PreprocessConfig, render: RenderConfig) -> tuple[int, ...]:
        """The model's input ``(3, size, size)``."""
        return (3, render.size, render.size)

    def item_bytes(self, preprocess: PreprocessConfig, render: RenderConfig) -> int:
        """An RGB uint8 image of the render's size."""
        return math.prod(self.item_shape(preprocess, render))

    def identity(self) -> dict[str, Any]:
        """Kind and normalisation."""
        return _identity(self)


@dataclass(frozen=True)
class SignalInput:
    """Signals in mV: the model's own ``recipe`` (``None``: the image recipe's filtered
    leads), encoded segment by segment when ``segments`` is set (needs a ``recipe``)."""

    recipe: SignalRecipe | None = None
    segments: SegmentAggregation | None = None
    kind: ClassVar[InputKind] = "signal"

    def __post_init__(self) -> None:
        if self.segments is not None and self.recipe is None:
            raise ValueError(
                "SignalInput: `segments` aggregates the segments of a signal recipe; "
                "declare the model's recipe"
            )

    @property
    def mean(self) -> tuple[float, ...]:
        """Not applied to signals (a cell identity still states ImageNet's, as always)."""
        return IMAGENET_MEAN

    @property
    def std(self) -> tuple[float, ...]:
        """Not applied to signals (a cell identity still states ImageNet's, as always)."""
        return IMAGENET_STD

    @property
    def channels_last(self) -> bool:
        """Signals are never channels-last."""
        return False

    def segment_samples(self) -> int | None:
        """The recipe's segment length when ``segments`` makes this a segment model."""
        if self.segments is None or self.recipe is None:
            return None
        return self.recipe.segment_samples

    def key(self) -> str:
        """``signal-<recipe hash>`` for a model recipe, else the shared ``signal``."""
        return "signal" if self.recipe is None else f"signal-{self.recipe.hash()}"

    def hash(self, preprocess: PreprocessConfig, render: RenderConfig) -> str:
        """The recipe (and segment aggregation), else the image preprocessing."""
        if self.recipe is not None and self.segments is not None:
            return stable_hash([self.recipe.hash(), self.segments.hash()], length=16)
        if self.recipe is not None:
            return self.recipe.hash()
        return preprocess.hash()

    def build(
        self,
        cache: ImageCache,
        cohort: Cohort,
        ids: Sequence[str],
        preprocess: PreprocessConfig,
        render: RenderConfig,
        build: bool = True,
    ) -> CachedImages:
        """Signals through the model's recipe, else through the image preprocessing."""
        if self.recipe is not None:
            return cache.recipe_signals(cohort, ids, self.recipe, build=build)
        return cache.signals(cohort, ids, preprocess, build=build)

    def input_size(self, image_size: int) -> int:
        """Samples of one input segment: the recipe's, else the image recipe's length."""
        if self.recipe is not None:
            return self.recipe.segment_samples
        from bench.data.preprocess import PreprocessConfig

        return PreprocessConfig().n_samples

    def item_shape(self, preprocess: PreprocessConfig, render: RenderConfig) -> tuple[int, ...]:
        """``(leads, samples)``: the recipe's, else the image recipe's 8 leads."""
        if self.recipe is not None:
            return (len(self.recipe.leads), self.recipe.n_samples)
        return (len(preprocess.plot_leads), preprocess.n_samples)

    def item_bytes(self, preprocess: PreprocessConfig, render: RenderConfig) -> int:
        """float32 :meth:`item_shape`."""
        return math.prod(self.item_shape(preprocess, render)) * 4

    def identity(self) -> dict[str, Any]:
        """Kind and the (unused) normalisation fields every cell identity has carried."""
        return _identity(self)


def _identity(representation: InputRepresentation) -> dict[str, Any]:
    """``input_kind``, ``mean`` and ``std``: a cell identity's input fields since schema 1."""
    return {
        "input_kind": representation.kind,
        "mean": list(representation.mean),
        "std": list(representation.std),
    }
