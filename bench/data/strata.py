"""Patient strata and stratified patient orders: what keeps every held-out set and every
training-fraction prefix representative of the pool.

Stratification works on one patient-level *stratum*. Binary tasks: the patient's label
(positive if any of their records is). Multi-label tasks stratify on the label matrix
through each patient's rarest positive label (rarest among the split's patients; stratum 0
for a patient with none): the held-out sets and every fraction prefix then keep each
label's share where it is hardest to keep, that of its rarest carriers — the first step of
iterative stratification (Sechidis et al., 2011) without its greedy re-balancing, which
would make orders depend on every label at once and break the nested prefixes. "Positive
patients" (the ``scaled`` rule's minimum) are then patients with any positive label.

Cohorts whose manifest carries ``sex`` and/or ``age`` (PTB-XL, LUDB, WFDB headers, a user's
manifest) stratify on them inside each label stratum: a patient's demographic group is their
sex (text, lower-cased; a patient whose records disagree counts as unknown) and the band of
their median age (``<40``, ``40-65``, ``>65``; ``">89"`` reads as 89), missing values being
groups of their own. A label stratum's members are ranked by an order that interleaves their
groups the same way strata are interleaved (below); groups with fewer than
:data:`MIN_STRATUM_PATIENTS` patients in a stratum are pooled into one residual group, and a
stratum left with a single group is ranked at random, i.e. by label alone. The label strata
keep exactly their ranks, so demographics never cost label balance, and a cohort without
those columns (or with nothing known in them) gets exactly the orders it had before.

What a fraction prefix keeps. A stratified order gives each of the ``S`` strata of a pool of
``N`` patients evenly spaced ranks, so a prefix of ``L`` patients holds ``c`` patients of a
stratum of ``n`` with ``|c - L n / N| <= (1 + S n / N) / 2`` (for strata ``v, w`` the last
of ``v`` taken ranks no later than the first of ``w`` left out). Hence:

- binary tasks: the positive patients of every prefix are within that bound of the pool's
  positive rate (for two strata ``(1 + 2 p) / 2`` patients: under 0.6 percentage points
  at 1 % of a 10k-patient pool with 6 % prevalence);
- multi-label tasks: the rarest label, which is its own stratum, likewise; any other label
  through its own stratum plus, for patients also carrying a rarer label, a uniformly random
  share of that stratum's prefix: its rate is kept in expectation, with the hypergeometric
  (Hoeffding-bounded) spread of those co-carriers;
- sex and age: within each label stratum, each group of at least
  :data:`MIN_STRATUM_PATIENTS` patients keeps its share of the stratum's prefix by the same
  bound (``N``, ``S`` then counted inside the stratum).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.data.labels import label_columns

#: Optional manifest columns stratified on inside each label stratum (module docstring).
SEX_COLUMN, AGE_COLUMN = "sex", "age"
#: Age band edges in years: ``<40``, ``40-65`` (both ends included), ``>65``.
AGE_BANDS: tuple[float, float] = (40.0, 65.0)
#: Fewest patients a label × sex × age-band group needs in a stratum to be stratified on;
#: smaller groups are pooled, since even a 10 % prefix would hold less than one of them.
MIN_STRATUM_PATIENTS = 10
#: Sex values that mean "not known" (after lower-casing).
UNKNOWN_SEX: frozenset[str] = frozenset({"", "nan", "none", "unknown", "u"})


def patient_labels(manifest: pd.DataFrame) -> pd.Series:
    """Patient-level label: positive if any of the patient's records is positive."""
    return manifest.groupby("patient_id", sort=True)["label"].max()


#: Strata of a regression task: quantile bins of the patient's median first target.
REGRESSION_STRATA = 4


def patient_strata(
    manifest: pd.DataFrame, labels: Sequence[str], kind: str = "classification"
) -> pd.Series:
    """Patient strata (see the module docstring): the patient label of a binary task (of a
    survival task: whether the patient has an event); for a multi-label task 0 (no positive
    label) or 1 + the index of the patient's rarest positive label; for a regression task
    the :data:`REGRESSION_STRATA`-quantile bin (0 lowest) of the patient's median first
    target."""
    if kind == "regression":
        target = manifest.groupby("patient_id", sort=True)[label_columns(labels)[0]].median()
        ranks = target.rank(method="first").to_numpy() - 1
        return pd.Series((ranks * REGRESSION_STRATA // len(target)).astype(int), target.index)
    if not labels:
        return patient_labels(manifest)
    matrix = manifest.groupby("patient_id", sort=True)[label_columns(labels)].max()
    values = matrix.to_numpy()
    rarest_first = np.argsort(values.sum(axis=0), kind="stable")
    first = values[:, rarest_first].argmax(axis=1)
    strata = np.where(values.any(axis=1), rarest_first[first] + 1, 0)
    return pd.Series(strata, index=matrix.index)


def known_sex(values: pd.Series) -> pd.Series:
    """Sex as lower-cased text, NA where not known."""
    text = values.astype("string").str.strip().str.lower()
    return text.mask(text.isin(UNKNOWN_SEX))


def age_years(values: pd.Series) -> pd.Series:
    """Age in years from numbers or text such as ``"62"`` or ``">89"`` (NaN if unreadable)."""
    number = values.astype("string").str.extract(r"^\s*[<>]?\s*(\d+(?:\.\d+)?)\s*\+?\s*$")[0]
    return pd.to_numeric(number, errors="coerce").astype(float)


def age_band(years: pd.Series) -> pd.Series:
    """``<40``, ``40-65``, ``>65`` or ``unknown`` for each age (:data:`AGE_BANDS`)."""
    low, high = AGE_BANDS
    bands = np.select(
        [years < low, years <= high, years > high],
        [f"<{low:g}", f"{low:g}-{high:g}", f">{high:g}"],
        default="unknown",
    )
    return pd.Series(bands, index=years.index)


def patient_groups(manifest: pd.DataFrame) -> pd.Series | None:
    """Each patient's demographic group (``"<sex>|<age band>"``, or the one column the
    manifest has), or None when it has neither ``sex`` nor ``age``."""
    by = manifest["patient_id"]
    parts: list[pd.Series] = []
    if SEX_COLUMN in manifest.columns:
        sex = known_sex(manifest[SEX_COLUMN]).groupby(by, sort=True)
        parts.append(sex.first().where(sex.nunique() == 1).fillna("unknown"))
    if AGE_COLUMN in manifest.columns:
        parts.append(age_band(age_years(manifest[AGE_COLUMN]).groupby(by, sort=True).median()))
    if not parts:
        return None
    return parts[0].astype(str) if len(parts) == 1 else parts[0].astype(str) + "|" + parts[1]


def pooled_groups(strata: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``groups``, with each stratum's groups of fewer than :data:`MIN_STRATUM_PATIENTS`
    patients pooled into one residual group (``""``)."""
    frame = pd.DataFrame({"stratum": strata, "group": groups})
    size = frame.groupby(["stratum", "group"])["group"].transform("size").to_numpy()
    return np.where(size >= MIN_STRATUM_PATIENTS, groups, "")


def interleave(
    strata: np.ndarray, rng: np.random.Generator, within: np.ndarray | None = None
) -> np.ndarray:
    """Indices ordering patients so every prefix keeps (up to rounding) each stratum's
    share: evenly spaced ranks in (0, 1) per stratum, given to its members in random order,
    or, when ``within`` splits a stratum into several groups, in an order interleaving those
    groups the same way."""
    keys = np.empty(len(strata))
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        sub = None if within is None else within[members]
        if sub is None or len(np.unique(sub)) < 2:
            ranked = members[rng.permutation(len(members))]
        else:
            ranked = members[interleave(sub, rng)]
        keys[ranked] = (np.arange(len(members)) + 0.5) / len(members)
    tiebreak = rng.random(len(strata))
    return np.lexsort((tiebreak, keys))


def stratified_order(
    labels: pd.Series,
    rng: np.random.Generator,
    stratify: bool,
    groups: pd.Series | None = None,
) -> list[str]:
    """A random order of the patients of ``labels`` (their strata); stratified orders
    interleave strata, and ``groups`` (demographic groups by patient) within each stratum
    (see the module docstring)."""
    patients = labels.index.to_numpy()
    if not stratify:
        return list(patients[rng.permutation(len(patients))])
    strata = labels.to_numpy()
    within = (
        None
        if groups is None
        else pooled_groups(strata, groups.reindex(labels.index).to_numpy(dtype=str))
    )
    return list(patients[interleave(strata, rng, within)])
