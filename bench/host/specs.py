"""Metadata objects that plugins register: the single source of truth for CLI, runner and
leaderboard (in the spirit of MTEB's ``TaskMetadata``/``ModelMeta`` and timm's registry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor, nn

    from bench.data.cohort import Cohort
    from bench.executors import Executor, ExecutorSettings
    from bench.training.recipe import FineTuneRecipe

from bench.data.representation import (
    ImageInput,
    InputRepresentation,
)

#: How a built model was initialised (every result record's ``init``): ``random``,
#: ``imagenet`` (supervised ImageNet weights), ``mim`` (HeartBEiT's masked image
#: modelling), ``wcr`` (ECG-FM's pretraining) or ``file`` (weights from any other file,
#: such as a released checkpoint).
Init = Literal["random", "imagenet", "mim", "wcr", "file"]
INITS: tuple[str, ...] = get_args(Init)

#: What a task predicts (``TaskSpec.kind``): ``classification`` (binary, or multi-label
#: with ``labels``), ``regression`` (one real target on the ``label`` column, or one per
#: name in ``labels``) or ``survival`` (an event indicator on ``label`` plus the follow-up
#: time on the ``time`` column; the model predicts a risk score).
TaskKind = Literal["classification", "regression", "survival"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)


@dataclass
class BuiltModel:
    """A freshly built classifier and an honest statement of how it was initialised.

    ``init`` (:data:`Init`) goes into every result record; ``weights`` names the file or
    checkpoint used, if any. ``arch`` names the architecture actually built, in words
    (e.g. a quick profile's smaller member of the family); empty means the model's name.
    ``pretraining`` states what the weights' own pretraining declared (a harness
    checkpoint's metadata), ``None`` when they declare nothing.
    """

    module: nn.Module
    init: Init
    weights: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    arch: str = ""
    pretraining: PretrainingFacts | None = None

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"BuiltModel.init {self.init!r}: expected one of {INITS}")


class ModelBuilder(Protocol):
    """Signature of :attr:`ModelSpec.build`.

    ``profile`` is the *model-size* profile: ``"paper"`` (the published architecture) or
    ``"quick"`` (a small member of the family, CPU scale); ``bench run --profile tiny``
    builds ``"quick"`` models too (see :attr:`bench.run.config.Profile.model_profile`).
    ``input_size`` is :meth:`ModelSpec.input_size` of the run's image size: the image side
    in pixels for image models, the samples per segment for signal models.
    """

    def __call__(
        self, *, num_classes: int, profile: str, input_size: int, weights: str | None
    ) -> BuiltModel: ...


@dataclass(frozen=True)
class ModelMeta:
    """What a model *is*, for people and the leaderboard (MTEB's ``ModelMeta`` in spirit):
    nothing here changes how the harness trains or evaluates it.

    ``pretrained_on`` names the corpora behind the model's pretrained (released or default)
    weights in the data-source vocabulary of ``--source`` (``"synthetic"``, ``"ptbxl"``,
    ``"mimic-iv-ecg"``, …), or by a name in :data:`bench.weights.contamination.CORPORA` for
    a corpus that is no single source (``"cinc2021"``, which holds PTB-XL and Chapman
    records; ``"imagenet-1k"``; ``"heedb"``), so that a cell whose checkpoint declares no
    corpus of its own is still checked for contamination against any evaluation source
    (:func:`bench.weights.contamination.check`).
    """

    description: str = ""
    family: str = ""
    paper_params_m: float | None = None
    pretrained_on: tuple[str, ...] = ()
    #: The released weights' licence, as their publisher states it ("" when they state
    #: none); shown by ``bench list models`` and written into converted weights' manifests.
    licence: str = ""


def tokens_method(module: nn.Module) -> Callable[[Tensor], Tensor]:
    """A ``ModelSpec.features`` for a module that implements the features contract as its
    own ``tokens`` method (the built-in signal models)."""
    return module.tokens  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelSpec:
    """A model the harness can fine-tune and evaluate: its name, its builder, what it is
    (``meta``), what it is fed (``input``) and what the harness can do with it (the
    remaining fields, its capabilities).

    ``input`` is the model's :mod:`input representation <bench.data.representation>`:
    :class:`~bench.data.representation.ImageInput` (3 x H x W rendered ECG normalised with
    its ``mean``/``std``; the default) or :class:`~bench.data.representation.SignalInput`
    (leads x samples float32 in mV: the image recipe's filtered signals, or the model's own
    :class:`~bench.data.signal_recipe.SignalRecipe`; with ``segments``, a
    :class:`~bench.data.signal_recipe.SegmentAggregation`, a *segment model* that encodes
    each segment slot of its recipe on its own: its ``features`` then map one segment
    ``(B, leads, segment_samples)`` to tokens, the harness assembles a record from the
    segments it really has (:mod:`bench.training.segments`), and its module combines window
    scores by the :class:`bench.training.segments.RecordRule` in its ``record_rule``
    attribute, which the harness sets to each task's labels).

    ``build(num_classes=, profile=, input_size=, weights=)`` returns a :class:`BuiltModel`;
    ``weights`` is a user-supplied path or ``None`` for the model's default.
    ``saliency_layers(module)`` returns the layers Grad-CAM should target and
    ``saliency_reshape`` turns transformer tokens into a spatial grid (``None`` for CNNs).
    ``default_weights(profile, input_size)`` says what ``weights=None`` means: a local
    file (content-hashed into the cell identity), a descriptor such as a pinned timm tag,
    or ``None`` (random initialisation); see :mod:`bench.weights.initial`.

    ``features(module)`` is the model's one *features contract*: it returns a function
    mapping a batch of model inputs (as ``build``'s module receives them) to encoder
    tokens ``(B, T, D)``, before any pooling or head — patch tokens for ViT/BEiT (no class
    token), a CNN's last feature map flattened to ``(B, H*W, C)``, a signal model's time
    tokens (a segment model concatenates its segments' tokens along ``T``). The
    protocols ``finetune-attn`` and ``frozen-attn`` put an attention-pooling head on these
    tokens, ``linear-probe`` and ``bench embed`` use their mean over ``T``. ``None``:
    timm-style modules are read through ``forward_features``
    (:func:`bench.training.features.timm_tokens`); any other module gets a clear error for
    those protocols (plain ``finetune`` never needs it).
    ``recipe`` is the model's fine-tuning recipe (:class:`bench.training.recipe.FineTuneRecipe`:
    optimiser, peak LR at a reference batch, warm-up, schedule, weight decay, drop-path,
    head LR multiplier, layer-wise LR decay), used unless a run asks for another
    (``--recipe paper``); ``None`` takes :data:`bench.training.recipe.DEFAULT_RECIPE`.
    ``pretrain`` names the click command (``"package.module:command"``, imported when used)
    that ``bench pretrain --model NAME`` runs with the remaining options.
    """

    name: str
    build: ModelBuilder
    meta: ModelMeta = field(default_factory=ModelMeta)
    input: InputRepresentation = field(default_factory=ImageInput)
    optimizer: Literal["adam", "adamw"] = "adam"
    saliency_layers: Callable[[nn.Module], list[nn.Module]] | None = None
    saliency_reshape: Callable[..., Any] | None = None
    default_weights: Callable[[str, int], str | None] | None = None
    #: Where ``default_weights`` keeps weights it creates on first use (HeartBEiT's MIM
    #: checkpoint), without creating them: a dry run plans with it instead.
    planned_weights: Callable[[str, int], str | None] | None = None
    features: Callable[[nn.Module], Callable[[Tensor], Tensor]] | None = None
    pretrain: str | None = None
    #: ``convert_weights(src, trusted)`` reads a released checkpoint (``trusted``: full
    #: unpickling allowed, see :func:`bench.weights.checkpoints.read_torch_file`) into the
    #: state dict and safetensors metadata its ``build(weights=...)`` loads
    #: (``bench convert-weights``); ``None``: the model has no released format to convert.
    convert_weights: Callable[[str, bool], tuple[Mapping[str, Any], Mapping[str, str]]] | None = (
        None
    )
    #: ``released_head(weights, options)`` reads a released *fine-tuned* checkpoint with its
    #: own classification head (``bench predict``) and returns ``(module, label_names,
    #: activation)``: ``module`` maps the model's inputs (as ``build``'s module receives them)
    #: to the head's record logits, a segment model's through its ``record_rule`` over the
    #: segments a record has (a lone segment is a one-segment record); ``label_names`` name
    #: its outputs in order; ``activation`` is ``"sigmoid"`` (independent labels, as trained
    #: with BCE) or ``"softmax"`` (one class among them). ``options`` holds ``labels`` (a
    #: label-names file given by the user, or ``None``). A file without a head is an error
    #: naming the file and what was expected. ``None``: no released fine-tuned format.
    released_head: (
        Callable[[str, Mapping[str, Any]], tuple[nn.Module, tuple[str, ...], str]] | None
    ) = None
    recipe: FineTuneRecipe | None = None
    #: Files the builder reads from beside a ``--weights`` file (a Hugging Face folder's
    #: ``config.json``): their SHA-256 join the cell identity with the weights file's, so a
    #: changed configuration is another experiment.
    weights_sidecars: tuple[str, ...] = ()
    #: ``bench run`` runs the models registered with ``default=True`` when neither
    #: ``--model`` nor the grid file names one (the built-ins: heartbeit).
    default: bool = False
    plugin: str = ""

    def input_size(self, image_size: int) -> int:
        """What ``build(input_size=…)`` receives in a run whose images are ``image_size`` px
        (see :meth:`bench.data.representation.InputRepresentation.input_size`)."""
        return self.input.input_size(image_size)


CohortLoader = Callable[[Mapping[str, Any]], "Cohort"]


@dataclass(frozen=True)
class TaskSpec:
    """A task over one or more data sources: binary or multi-label classification, or (by
    ``kind``) regression or survival (see :data:`TaskKind`).

    ``loaders`` maps a source name (``"synthetic"``, ``"ptbxl"``, ``"ludb"``, ``"muse"``,
    ``"manifest"``, …) to a function ``loader(options) -> Cohort``; ``options`` holds
    that source's ``--source-option SOURCE.KEY=VALUE`` flags and YAML ``source_options``
    (plus ``n_patients`` from the profile for ``synthetic``). Environment variables are
    not merged in: a loader may fall back to its own (the built-in loaders read
    ``BENCH_LUDB_DIR``, ``BENCH_PTBXL_DIR``, ``BENCH_MANIFEST``, ``BENCH_MUSE_DIR``). ``definition`` states the label in
    words and ``version`` changes whenever the definition does. ``region`` names the
    clinically relevant ECG segment (``"st"``, ``"qrs"``) used by saliency localisation.
    ``labels`` makes the task multi-label: K label names, one 0/1 manifest column
    ``label:<name>`` each, K sigmoid outputs trained with BCE, macro metrics (see
    :mod:`bench.data.labels`); empty (the default) is a binary task on the ``label`` column.
    A ``regression`` task's ``labels`` name its real targets (one ``label`` column when
    empty; ``unit`` states their units); a ``survival`` task's ``label`` is the event and
    its ``time`` column the follow-up, with ``horizons`` for time-dependent metrics. The
    loaders of such tasks pass ``kind`` to their :class:`Cohort`, and the score metrics
    registered for the kind (:attr:`MetricSpec.task_kinds`) score them.
    """

    name: str
    loaders: Mapping[str, CohortLoader]
    definition: str
    version: str
    positive_class: str
    description: str = ""
    default_source: str = "synthetic"
    region: str = "qrs"
    external_site: str | None = None
    labels: tuple[str, ...] = ()
    #: ``bench run`` runs the tasks registered with ``default=True`` when neither
    #: ``--task`` nor the grid file names one (the built-ins: stemi).
    default: bool = False
    plugin: str = ""
    kind: TaskKind = "classification"
    #: Survival tasks: the horizons (in the ``time`` column's unit) at which time-dependent
    #: metrics are reported.
    horizons: tuple[float, ...] = ()
    #: Regression and survival tasks: the unit of the targets (``"ms"``, ``"years"``).
    unit: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"TaskSpec.kind must be one of {TASK_KINDS}, got {self.kind!r}")
        if self.kind == "survival" and (self.labels or not self.horizons):
            raise ValueError(
                f"survival task {self.name!r}: needs horizons and no labels (the event is "
                "the 'label' column, the follow-up time the 'time' column)"
            )


@dataclass(frozen=True)
class ScoreData:
    """What score metrics consume: labels, scores and patient groups of one test set.

    ``replicate_indices`` is the shared bootstrap resample matrix of
    :func:`bench.statistics.resampling.bootstrap_indices` — ``(replicates, n)`` multiplicities,
    created once per test set so that every model is compared on the same resamples.
    """

    y_true: np.ndarray
    y_score: np.ndarray
    groups: np.ndarray
    replicate_indices: np.ndarray | None = None  # (replicates, n) multiplicities
    #: What the cohort knows of each record, aligned with ``y_true``: ``site`` always,
    #: ``sex`` and ``age`` where the source has them (as the manifest holds them; see
    #: :mod:`bench.data.strata` for how they are read). Subgroup metrics use them.
    covariates: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: The cell's validation predictions (a binary task's; ``None`` for cells stored before
    #: they were kept): what a metric fitted on validation fits on (temperature scaling, a
    #: decision threshold) before it is applied to this test set.
    reference: ScoreData | None = None
    #: Survival tasks: each record's follow-up time (``y_true`` is then the event
    #: indicator and ``y_score`` a risk score, higher meaning earlier events).
    times: np.ndarray | None = None
    #: Survival tasks: the task's horizons (see :attr:`TaskSpec.horizons`).
    horizons: tuple[float, ...] = ()
    #: Multi-label tasks, for a metric with :attr:`MetricSpec.label_matrix`: the label
    #: names of the columns of ``y_true``/``y_score`` ``(n, K)``.
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricValue:
    """One metric result: a point estimate with an optional confidence interval."""

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """A metric. ``kind`` says what it consumes:

    - ``"scores"``: ``compute(ScoreData) -> MetricValue`` on one test set's predictions;
    - ``"images"``: image sets (Wasserstein), run by its own command;
    - ``"saliency"``: a trained model plus images (Grad-CAM), run by its own command.

    A ``"scores"`` metric may add ``replicates(y_true, y_score, weights) -> values``: its
    value on every row of a bootstrap multiplicity matrix ``weights`` ``(R, n)`` at once
    (the leaderboard's paired test uses it; without it, ``compute`` runs once per
    replicate, see :func:`bench.statistics.intervals.metric_replicates`).

    ``default=True`` metrics are computed for every cell of ``bench run``. A non-score
    metric that ``bench run --metric`` may request provides ``run(run_dir, names) ->
    paths``: it computes the named metrics from the finished run directory (its saved
    splits and checkpoints) and returns the files it wrote; without ``run`` such a request
    is an error.
    """

    name: str
    kind: Literal["scores", "images", "saliency"]
    compute: Callable[..., Any]
    description: str = ""
    higher_is_better: bool = True
    default: bool = False
    replicates: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    run: Callable[[Path, Sequence[str]], list[Path]] | None = None
    #: The ``metric_options`` entry the metric reads (``--metric-option OPTIONS.KEY=VALUE``;
    #: the metrics of one plugin share one) and its check, run before anything trains:
    #: ``check_options(settings)`` raises :class:`ValueError` saying what is wrong.
    options: str = ""
    check_options: Callable[[Mapping[str, Any]], object] | None = None
    #: For a metric with ``run``: the cells ``(fraction, seed)`` whose checkpoints ``run``
    #: reads, given the run's config (``run.json``'s ``config``), so that a tool that keeps
    #: a run's records but not its checkpoints knows which cells must train again (the
    #: leaderboard's progress); without it, the config's largest fraction and lowest seed.
    run_cells: Callable[[Mapping[str, Any]], Sequence[tuple[float, int]]] | None = None
    plugin: str = ""
    #: The task kinds (:data:`TaskKind`) a ``"scores"`` metric applies to: a default metric
    #: runs on those cells only, and requesting it for another kind is an error.
    task_kinds: tuple[TaskKind, ...] = ("classification",)
    #: On a multi-label task, ``compute`` gets the whole label matrix (``ScoreData.y_true``
    #: and ``y_score`` ``(n, K)``, ``ScoreData.labels``, the covariates) once per split and
    #: does its own per-label work, instead of being macro-averaged label by label by the
    #: harness (the subgroup metrics, whose gap is between per-subgroup macros).
    label_matrix: bool = False


@dataclass(frozen=True)
class TokenizerSpec:
    """A visual tokenizer for BEiT masked-image-modelling pretraining.

    ``build(options) -> tokenizer`` where the tokenizer exposes ``vocab_size`` and
    ``tokens(images) -> LongTensor[batch, patches]``.
    """

    name: str
    build: Callable[[Mapping[str, Any]], Any]
    description: str = ""
    trainable: bool = False
    plugin: str = ""


@dataclass(frozen=True)
class ExecutorSpec:
    """A named executor (``bench run --executor NAME``): ``create(settings)`` returns an
    :class:`bench.executors.Executor` that runs the grid's pending cells."""

    name: str
    description: str
    create: Callable[[ExecutorSettings], Executor]
    plugin: str = ""
    #: Called with the run's worker count before the driver imports its grid (not on a dry
    #: run), so that a backend's start-up (a forkserver, a cluster client) overlaps it.
    warm_up: Callable[[int], None] | None = None


@dataclass(frozen=True)
class PretrainingFacts:
    """What a pretraining checkpoint declares about its pretraining, as its metadata says it
    (strings, ``None`` when not declared): the ``corpus`` it saw (a
    :class:`bench.weights.contamination.Corpus` in JSON, checked against every evaluation
    set), its budget (``steps``, ``images`` or ``segments`` seen, final ``loss``) and, for
    masked-image modelling, the tokenizer and what the model recovered of the code entropy.
    Every result record carries them (``pretraining``)."""

    corpus: str | None = None
    steps: str | None = None
    images: str | None = None
    segments: str | None = None
    loss: str | None = None
    tokenizer: str | None = None
    tokenizer_hash: str | None = None
    render_hash: str | None = None
    code_unigram_entropy: str | None = None
    nats_recovered: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The declared facts (what a result record's ``pretraining`` holds)."""
        return {k: v for k, v in asdict(self).items() if v is not None}
