"""Model-declared signal preprocessing: what a signal model (ECG-FM and kin) is fed.

The image models get the paper's image recipe (:mod:`bench.data.preprocess`: band-pass,
median filter, 8 leads, 5 s). A signal model declares a :class:`SignalRecipe` on its
:class:`bench.specs.ModelSpec` instead; the image cache builds one signals array per recipe
hash. The recipe, in this order (ECG-FM's own preprocessing, research/ecg-fm.md 1.6):

1. reorder to ``leads``; a lead the record lacks is zero-filled (ECG-FM's lead-masking
   convention for "absent") and reported;
2. reject non-finite samples;
3. resample to ``target_fs`` by linear interpolation;
4. per-lead z-score over the whole resampled record (a constant lead becomes 0);
5. cut into non-overlapping ``segment_samples`` segments; a shorter remainder is dropped.
   The first ``n_segments`` whole segments are kept; slots a shorter record cannot fill
   stay all-zero, which a segment model reads as "no segment". A record shorter than one
   segment is rejected.

No band-pass or median filter is applied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

from bench.provenance import stable_hash
from bench.signal import STANDARD_LEADS, ECGFormatError, ECGSignal

if TYPE_CHECKING:  # numpy is imported where arrays are made (model specs stay cheap)
    import numpy as np

Normalisation = Literal["zscore", "none"]


@dataclass(frozen=True)
class SignalRecipe:
    """A signal model's input contract; :meth:`hash` keys the cache and goes into records.

    - ``leads``: output rows, in order (missing leads are zero-filled);
    - ``target_fs``: output rate in Hz (linear interpolation);
    - ``normalise``: ``"zscore"`` per lead over the whole record, or ``"none"`` (mV);
    - ``segment_samples``: length of one model input segment;
    - ``n_segments``: segment slots per record (record length = ``n_segments *
      segment_samples``; 2 × 2,500 = the 10 s of a standard ECG at 500 Hz).
    """

    leads: tuple[str, ...] = STANDARD_LEADS
    target_fs: float = 500.0
    normalise: Normalisation = "zscore"
    segment_samples: int = 2500
    n_segments: int = 2
    version: str = "1"

    def __post_init__(self) -> None:
        if not self.leads or len(set(self.leads)) != len(self.leads):
            raise ValueError(f"SignalRecipe.leads: expected unique lead names, got {self.leads}")
        if not self.target_fs > 0:
            raise ValueError(f"SignalRecipe.target_fs must be > 0, got {self.target_fs}")
        if self.normalise not in ("zscore", "none"):
            raise ValueError(
                f"SignalRecipe.normalise must be 'zscore' or 'none', got {self.normalise!r}"
            )
        if self.segment_samples < 1 or self.n_segments < 1:
            raise ValueError(
                f"SignalRecipe.segment_samples ({self.segment_samples}) and n_segments "
                f"({self.n_segments}) must be >= 1"
            )

    @property
    def n_samples(self) -> int:
        """Samples per cached record: ``n_segments * segment_samples``."""
        return self.n_segments * self.segment_samples

    def hash(self) -> str:
        """Short sha256 of every field (version included)."""
        return stable_hash(asdict(self), length=16)


def resample_linear(data: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Linear interpolation of ``(leads, n)`` from ``fs`` to ``target_fs`` Hz (float64).

    Output sample ``k`` is at time ``k / target_fs``; there are ``floor(n * target_fs / fs)``
    of them (values past the last input sample hold it).
    """
    import numpy as np

    if fs == target_fs:
        return np.asarray(data, dtype=np.float64)
    n = data.shape[1]
    n_out = int(np.floor(n * target_fs / fs + 1e-9))
    t_in = np.arange(n) / fs
    t_out = np.arange(n_out) / target_fs
    return np.stack([np.interp(t_out, t_in, row) for row in np.asarray(data, dtype=np.float64)])


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
    resampled = resample_linear(rows, sig.fs, recipe.target_fs)
    if recipe.normalise == "zscore":
        resampled = zscore_leads(resampled)
    n_whole = resampled.shape[1] // recipe.segment_samples
    if n_whole == 0:
        raise ECGFormatError(
            f"record is {resampled.shape[1] / recipe.target_fs:.2f} s long after resampling; "
            f"the model needs at least one {recipe.segment_samples / recipe.target_fs:.2f} s "
            "segment"
        )
    keep = min(n_whole, recipe.n_segments) * recipe.segment_samples
    out = np.zeros((len(recipe.leads), recipe.n_samples), dtype=np.float32)
    index = {name: k for k, name in enumerate(recipe.leads)}
    for row, name in zip(resampled, present, strict=True):
        out[index[name], :keep] = row[:keep]
    return out


def split_segments(
    inputs: np.ndarray, recipe: SignalRecipe
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real segments of records made by :func:`apply_recipe`.

    ``inputs`` ``(n, leads, n_samples)`` → segments ``(m, leads, segment_samples)`` (record
    by record, slots in order), each segment's record position ``(m,)`` and slot ``(m,)``
    (segment ``j`` starts at ``j * segment_samples / target_fs`` s). Slot 0 always counts (a
    record shorter than one segment is rejected by the recipe); a later all-zero slot is
    one the record could not fill and is skipped.
    """
    import numpy as np

    n, leads, samples = inputs.shape
    if samples != recipe.n_samples:
        raise ValueError(
            f"split_segments: records have {samples} samples; the recipe makes "
            f"{recipe.n_segments} x {recipe.segment_samples} = {recipe.n_samples}"
        )
    shape = (n, leads, recipe.n_segments, recipe.segment_samples)
    slots = inputs.reshape(shape).transpose(0, 2, 1, 3)
    real = (slots != 0).any(axis=(2, 3))
    real[:, 0] = True
    record, slot = np.nonzero(real)
    return np.ascontiguousarray(slots[record, slot]), record, slot
