"""Model-declared signal preprocessing: what a signal model (ECG-FM and kin) is fed.

The image models get the paper's image recipe (:mod:`bench.data.preprocess`: band-pass,
median filter, 8 leads, 5 s). A signal model declares a :class:`SignalRecipe` on its
:class:`bench.host.specs.ModelSpec` instead; the image cache builds one signals array per recipe
hash. The recipe, in this order (ECG-FM's own preprocessing, docs/models.md):

1. reorder to ``leads``; a lead the record lacks is zero-filled (ECG-FM's lead-masking
   convention for "absent") and reported;
2. reject non-finite samples;
2a. keep the record's first ``clip_seconds`` at its own rate (none by default);
2b. the recipe's ``filters``, in order, at the record's own rate (:class:`SignalFilter`:
   notch, Butterworth or FIR band-pass, median baseline removal; none by default);
3. resample to ``target_fs`` by linear interpolation on the recipe's ``resampling`` grid
   (:func:`resample_linear`);
4. normalise: per-lead z-score over the whole resampled record (a constant lead becomes 0),
   one z-score over all its leads and samples together (``"zscore-record"``), one min-max
   scaling to [0, 1] over the samples kept in step 5 (``"minmax-record"``), a per-lead
   min-max scaling to [-1, 1] over the whole resampled record (``"minmax-lead"``), or none;
5. cut into non-overlapping ``segment_samples`` segments; a shorter remainder is dropped
   (ECG-FM's ``len // 2500``: a 7 s record at 500 Hz has one segment, its first 5 s). The
   first ``n_segments`` whole segments are kept; slots a shorter record cannot fill stay
   all-zero, which a segment model reads as "no segment" (:func:`filled_slots`). A record
   shorter than one segment is rejected. With ``windows="spread"`` the ``n_segments``
   windows are instead spread evenly over the record and may overlap (:func:`window_starts`);
6. each window through the recipe's ``window_filters`` at ``target_fs``, then its
   ``window_normalise`` (none by default).

By default no filter is applied.

A *segment model* (one that encodes each slot on its own, such as ECG-FM) also declares a
:class:`SegmentAggregation` on its :class:`bench.host.specs.ModelSpec`: how the segments a
record really has make the record's embedding and scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from bench.data.signal import STANDARD_LEADS, ECGFormatError, ECGSignal
from bench.data.signal_filters import SignalFilter
from bench.run.provenance import stable_hash

if TYPE_CHECKING:  # numpy and torch are imported where arrays are made (specs stay cheap)
    import numpy as np
    from torch import Tensor

Normalisation = Literal["zscore", "zscore-record", "minmax-record", "minmax-lead", "none"]
NORMALISATIONS: tuple[Normalisation, ...] = (
    "zscore", "zscore-record", "minmax-record", "minmax-lead", "none",
)  # fmt: skip
#: Where a recipe's windows start in a record (:func:`window_starts`).
WindowLayout = Literal["consecutive", "spread"]
WINDOW_LAYOUTS: tuple[WindowLayout, ...] = ("consecutive", "spread")
#: What each window is scaled by after its filters.
WindowNormalisation = Literal["none", "zscore-window"]
WINDOW_NORMALISATIONS: tuple[WindowNormalisation, ...] = ("none", "zscore-window")
#: Where linear resampling puts the input samples (:func:`resample_linear`).
Resampling = Literal["time", "endpoints", "fft"]
RESAMPLINGS: tuple[Resampling, ...] = ("time", "endpoints", "fft")
#: How one label's window scores make its record score: their mean or their maximum.
SegmentRule = Literal["mean", "max"]
SEGMENT_RULES: tuple[SegmentRule, ...] = ("mean", "max")
#: Records as numpy arrays or torch tensors (:func:`filled_slots` takes either).
Records = TypeVar("Records", "np.ndarray", "Tensor")


@dataclass(frozen=True)
class SignalRecipe:
    """A signal model's input contract; :meth:`hash` keys the cache and goes into records.

    - ``leads``: output rows, in order (missing leads are zero-filled);
    - ``target_fs``: output rate in Hz (linear interpolation);
    - ``resampling``: the interpolation grid, ``"time"`` (sample ``i`` at ``i / fs``) or
      ``"endpoints"`` (fairseq-signals' grid, ECG-FM's own pipeline: the first and last
      samples of input and output coincide), or ``"fft"`` (``scipy.signal.resample`` of
      the whole record, as ST-MEM and ECGFM-KED do); see :func:`resample_linear`;
    - ``filters``: :class:`SignalFilter` s applied in order at the record's own rate,
      before resampling (none by default);
    - ``normalise``: ``"zscore"`` per lead over the whole record, ``"zscore-record"`` one
      ``(x - mean) / (std + 1e-8)`` over all its leads and samples together (ECGFounder's
      ``z_score_normalization``), ``"minmax-record"`` ``(x - min) / (max - min + 1e-8)``
      over all leads (zero-filled ones included) of the samples kept after the cut (MERL's
      scaling of its window to [0, 1]), ``"minmax-lead"`` ``2 (x - min) / (max - min +
      1e-8) - 1`` per lead over the whole resampled record (HuBERT-ECG's ``scaling`` to
      [-1, 1]; a constant lead becomes -1, a missing one stays 0), or ``"none"`` (mV);
    - ``segment_samples``: length of one model input segment;
    - ``n_segments``: segment slots per record (record length = ``n_segments *
      segment_samples``; 2 × 2,500 = the 10 s of a standard ECG at 500 Hz);
    - ``clip_seconds``: the record's first seconds kept at its own rate before its filters
      and resampling (``0``: the whole record; ST-MEM's ``process_ecg.py`` cuts its first
      10 s chunk so);
    - ``windows``: ``"consecutive"`` (slot ``k`` holds samples ``k * segment_samples`` on)
      or ``"spread"`` (the ``n_segments`` windows evenly spread over the record, as ST-MEM's
      ``NCrop``; :func:`window_starts`);
    - ``window_filters``: :class:`SignalFilter` s applied in order to each window at
      ``target_fs`` (none by default);
    - ``window_normalise``: ``"zscore-window"`` one ``(x - mean) / std`` over each
      window's leads and samples together, a constant window all-zero (ST-MEM's
      ``Standardize(axis=(-1, -2))``), or ``"none"``.

    The last four fields enter :meth:`hash` only when not at their defaults, so the
    identity of a recipe without them is the one it had before they existed.
    """

    leads: tuple[str, ...] = STANDARD_LEADS
    target_fs: float = 500.0
    resampling: Resampling = "time"
    filters: tuple[SignalFilter, ...] = ()
    normalise: Normalisation = "zscore"
    segment_samples: int = 2500
    n_segments: int = 2
    version: str = "1"
    clip_seconds: float = 0.0
    windows: WindowLayout = "consecutive"
    window_filters: tuple[SignalFilter, ...] = ()
    window_normalise: WindowNormalisation = "none"

    def __post_init__(self) -> None:
        if not self.leads or len(set(self.leads)) != len(self.leads):
            raise ValueError(f"SignalRecipe.leads: expected unique lead names, got {self.leads}")
        if not self.target_fs > 0:
            raise ValueError(f"SignalRecipe.target_fs must be > 0, got {self.target_fs}")
        if self.resampling not in RESAMPLINGS:
            raise ValueError(
                f"SignalRecipe.resampling must be one of {RESAMPLINGS}, got {self.resampling!r}"
            )
        if self.normalise not in NORMALISATIONS:
            raise ValueError(
                f"SignalRecipe.normalise must be one of {NORMALISATIONS}, got {self.normalise!r}"
            )
        if self.segment_samples < 1 or self.n_segments < 1:
            raise ValueError(
                f"SignalRecipe.segment_samples ({self.segment_samples}) and n_segments "
                f"({self.n_segments}) must be >= 1"
            )
        if self.clip_seconds < 0 or self.windows not in WINDOW_LAYOUTS:
            raise ValueError(
                f"SignalRecipe: clip_seconds must be >= 0 ({self.clip_seconds}) and windows "
                f"one of {WINDOW_LAYOUTS} ({self.windows!r})"
            )
        if self.window_normalise not in WINDOW_NORMALISATIONS:
            raise ValueError(
                f"SignalRecipe.window_normalise must be one of {WINDOW_NORMALISATIONS}, got "
                f"{self.window_normalise!r}"
            )

    @property
    def n_samples(self) -> int:
        """Samples per cached record: ``n_segments * segment_samples``."""
        return self.n_segments * self.segment_samples

    def hash(self) -> str:
        """Short sha256 of every field (version included; the window fields only when set)."""
        fields = asdict(self)
        for name, default in _WINDOW_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        return stable_hash(fields, length=16)


#: The fields added after recipes' hashes were first recorded, at their defaults (left out
#: of :meth:`SignalRecipe.hash` there).
_WINDOW_DEFAULTS = {"clip_seconds": 0.0, "windows": "consecutive", "window_filters": (),
                    "window_normalise": "none"}  # fmt: skip


@dataclass(frozen=True)
class SegmentAggregation:
    """How a segment model makes a record of the segments it really has.

    A segment model encodes each segment slot of its :class:`SignalRecipe` on its own.
    Over a record's filled slots (:func:`filled_slots`), and never over an empty one:

    - its embedding (the features contract: ``bench embed``, the linear probe) is the mean
      of its segments' embeddings, and attention-pooling heads attend over its segments'
      tokens only (:mod:`bench.training.features`);
    - the model's own head scores each segment (window), and a label's record score is the
      ``rule`` of its window scores (probabilities): ``"mean"`` or ``"max"``;
      ``label_rules`` overrides it per label name of a multi-label task, as ECG-FM's own
      inference takes the max for findings that one window can show
      (:class:`bench.training.segments.RecordRule`).

    ``version`` changes whenever what a record is made of changes; :meth:`hash` goes into
    the identity of every cell of the model.
    """

    rule: SegmentRule = "mean"
    label_rules: tuple[tuple[str, SegmentRule], ...] = ()
    version: str = "1"

    def __post_init__(self) -> None:
        for name, rule in (("rule", self.rule), *self.label_rules):
            if rule not in SEGMENT_RULES:
                raise ValueError(
                    f"SegmentAggregation: the rule of {name!r} must be one of "
                    f"{SEGMENT_RULES}, got {rule!r}"
                )

    def rules(self, labels: Sequence[str]) -> tuple[SegmentRule, ...]:
        """The rule of each score: ``(rule,)`` for a binary task (``labels == ()``), else
        one per label (``label_rules`` first, then ``rule``)."""
        overrides = dict(self.label_rules)
        return tuple(overrides.get(name, self.rule) for name in labels) or (self.rule,)

    def hash(self) -> str:
        """Short sha256 of every field (version included)."""
        return stable_hash(asdict(self), length=16)


def resample_linear(
    data: np.ndarray, fs: float, target_fs: float, resampling: Resampling = "time"
) -> np.ndarray:
    """Resampling of ``(leads, n)`` from ``fs`` to ``target_fs`` Hz (float64): linear
    interpolation on one of two grids, or Fourier resampling.

    - ``"time"``: output sample ``k`` is at time ``k / target_fs`` and input sample ``i`` at
      ``i / fs``; there are ``floor(n * target_fs / fs)`` outputs (values past the last
      input sample hold it).
    - ``"endpoints"``: fairseq-signals' ``resample`` (scripts/preprocess/ecg/preprocess.py,
      the pipeline ECG-FM was trained and evaluated with): ``n' = int(n * (target_fs /
      fs))`` outputs at positions ``0 … n' - 1``, the ``n`` inputs spread evenly over
      ``linspace(0, n' - 1, n)``, so the first and last samples coincide and the input is
      stretched by ``(n' - 1) / (n - 1)`` rather than exactly ``target_fs / fs``.
    - ``"fft"``: ``scipy.signal.resample`` of the whole record to ``floor(n * target_fs /
      fs)`` samples (ST-MEM's and ECGFM-KED's pipelines).
    """
    import numpy as np

    rows = np.asarray(data, dtype=np.float64)
    if fs == target_fs:
        return rows
    n = data.shape[1]
    if resampling == "fft":  # Fourier resampling of the whole record (periodic assumption)
        from scipy.signal import resample

        return np.asarray(resample(rows, int(np.floor(n * target_fs / fs + 1e-9)), axis=1))
    if resampling == "endpoints":
        n_out = int(n * (target_fs / fs))
        x_in = np.linspace(0, n_out - 1, n)
        x_out = np.arange(n_out, dtype=np.float64)
    else:
        n_out = int(np.floor(n * target_fs / fs + 1e-9))
        x_in = np.arange(n) / fs
        x_out = np.arange(n_out) / target_fs
    return np.stack([np.interp(x_out, x_in, row) for row in rows])


def zscore_leads(data: np.ndarray) -> np.ndarray:
    """Per-row z-score ``(x - mean) / std``; a constant row becomes all-zero."""
    import numpy as np

    mean = data.mean(axis=1, keepdims=True)
    std = data.std(axis=1, keepdims=True)
    constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    out = (data - mean) / np.where(constant, 1.0, std)
    out[np.broadcast_to(constant, out.shape)] = 0.0
    return out


def missing_leads(sig: ECGSignal, recipe: SignalRecipe) -> list[str]:
    """The recipe's leads that ``sig`` lacks (they are zero-filled)."""
    return [name for name in recipe.leads if name not in sig.leads]


def apply_recipe(sig: ECGSignal, recipe: SignalRecipe) -> np.ndarray:
    """One record through ``recipe``: ``(len(leads), n_samples)`` float32.

    Raises :class:`ECGFormatError` for non-finite samples, a record without any of the
    recipe's leads, or a record shorter than one segment after resampling.
    """
    import numpy as np

    present = [name for name in recipe.leads if name in sig.leads]
    if not present:
        raise ECGFormatError(
            f"record has none of the model's leads {list(recipe.leads)} (has {list(sig.leads)})"
        )
    rows = np.stack([sig.lead(name) for name in present])
    if not np.isfinite(rows).all():
        raise ECGFormatError("non-finite samples (NaN/inf) in the record")
    if recipe.clip_seconds:
        rows = rows[:, : round(recipe.clip_seconds * sig.fs)]
    rows = _filtered(rows, recipe.filters, sig.fs)
    resampled = resample_linear(rows, sig.fs, recipe.target_fs, recipe.resampling)
    if recipe.normalise == "zscore":
        resampled = zscore_leads(resampled)
    elif recipe.normalise == "zscore-record":
        resampled = (resampled - resampled.mean()) / (resampled.std() + 1e-8)
    elif recipe.normalise == "minmax-lead":
        low = resampled.min(axis=1, keepdims=True)
        resampled = 2 * (resampled - low) / (resampled.max(axis=1, keepdims=True) - low + 1e-8) - 1
    starts, size = window_starts(resampled.shape[1], recipe), recipe.segment_samples
    if not starts:
        raise ECGFormatError(
            f"record is {resampled.shape[1] / recipe.target_fs:.2f} s long after resampling; "
            f"the model needs at least one {size / recipe.target_fs:.2f} s segment"
        )
    index = {name: k for k, name in enumerate(recipe.leads)}
    full = np.zeros((len(recipe.leads), resampled.shape[1]), dtype=np.float64)
    full[[index[name] for name in present]] = resampled
    out = np.zeros((len(recipe.leads), recipe.n_samples), dtype=np.float64)
    for k, start in enumerate(starts):
        out[:, k * size : (k + 1) * size] = full[:, start : start + size]
    keep = len(starts) * size
    if recipe.normalise == "minmax-record":  # the kept window with its zero-filled leads,
        kept = out[:, :keep]  # as MERL scales its (zero-padded) window
        out[:, :keep] = (kept - kept.min()) / (kept.max() - kept.min() + 1e-8)
    for k in range(len(starts)):
        part = slice(k * size, (k + 1) * size)
        out[:, part] = _window_steps(out[:, part], recipe)
    return out.astype(np.float32)


def window_starts(n: int, recipe: SignalRecipe) -> list[int]:
    """Where the windows of a record of ``n`` samples (at ``target_fs``) start, at most
    ``n_segments`` of them (``[]``: the record is shorter than one window).

    - ``"consecutive"``: ``0, S, 2S, …`` (``S = segment_samples``) while a whole window
      fits; a shorter remainder is dropped;
    - ``"spread"``: ST-MEM's ``NCrop(S, k)`` (``k = n_segments``): ``arange(0, n - S + 1,
      (n - S) // (k - 1))``, the first window at the start, the others evenly spaced up to
      the record's end, overlapping when ``n < k S`` (10 s at 250 Hz, ``S`` 2,250, ``k`` 3:
      0, 125 and 250). Where that step is 0 (``n < S + k - 1``, or ``k = 1``) there is one
      window at 0 (``NCrop`` fails there); the first ``k`` starts are kept (``NCrop`` takes
      a fourth window when ``n - S = 3``).
    """
    size, k = recipe.segment_samples, recipe.n_segments
    if n < size:
        return []
    if recipe.windows == "consecutive":
        return [i * size for i in range(min(n // size, k))]
    step = (n - size) // (k - 1) if k > 1 else 0
    return list(range(0, n - size + 1, step))[:k] if step else [0]


def _window_steps(window: np.ndarray, recipe: SignalRecipe) -> np.ndarray:
    """One window through the recipe's ``window_filters`` and ``window_normalise``."""
    import numpy as np

    window = _filtered(window, recipe.window_filters, recipe.target_fs)
    if recipe.window_normalise == "zscore-window":
        scale = window.std()
        return (window - window.mean()) / scale if scale != 0 else np.zeros_like(window)
    return window


def _filtered(rows: np.ndarray, filters: Sequence[SignalFilter], fs: float) -> np.ndarray:
    """``rows`` through ``filters`` in order; a filter that cannot run on them (e.g. a
    record shorter than ``filtfilt``'s padding) is an :class:`ECGFormatError`."""
    for step in filters:
        try:
            rows = step.apply(rows, fs)
        except ValueError as exc:
            raise ECGFormatError(f"{step.kind} filter cannot run on this record: {exc}") from exc
    return rows


def filled_slots(records: Records, segment_samples: int) -> Records:
    """Which segment slots of records made by :func:`apply_recipe` hold a segment.

    ``records`` ``(n, leads, k * segment_samples)`` (numpy or torch) → ``(n, k)`` bool.
    Slot 0 always holds one (a record shorter than one segment is rejected); a later slot
    holds one when any of its samples is non-zero. That is exact after the recipe: a slot
    the record filled is all-zero only if every lead sits exactly at its own record mean
    for the whole segment (e.g. a record of constant leads, all zero, whose segments are
    then identical, so leaving out the later ones changes neither a mean nor a maximum).
    """
    n, leads, samples = records.shape
    if samples % segment_samples:
        raise ValueError(
            f"records have {samples} samples, not a multiple of the segment length "
            f"{segment_samples}"
        )
    slots = records.reshape(n, leads, samples // segment_samples, segment_samples)
    filled = (slots != 0).any(3).any(1)
    filled[:, 0] = True
    return filled
