"""Sex and age of the synthetic patients, and what they do to the ECG and to the labels.

Every patient has a sex and an age (patient traits, the same on every ECG: synthetic
records carry no dates). They shift the normal ECG by the published sex and age differences
and set each patient's risk of the task's condition, with the task's overall prevalence
kept. The magnitudes and their sources are tabulated in ``docs/synthetic.md``. Effects are
centred on :data:`AGE_CENTRE` and halfway between the sexes, so the cohort-average ECG
stays close to that of the generator before demographics entered; the anterior J-point
elevation, which that generator lacked, is the exception.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from bench.data.synthetic.draws import Draws

#: Share of men (PTB-XL: 52 % male, 48 % female).
MALE_SHARE = 0.52
#: Ages ``AGE_MIN + floor(AGE_SPAN * Beta(*AGE_BETA))``: 18–95 years, median 62 and
#: interquartile range 22 as PTB-XL's (whose few children an adult cohort leaves out).
AGE_MIN, AGE_SPAN = 18, 78
AGE_BETA: tuple[float, float] = (3.29, 2.555)
#: Age at which the age effects are zero (about the cohort's mean, 61.4 years).
AGE_CENTRE = 60.0
#: Manifest coding of sex (read back by :func:`bench.data.strata.known_sex` as ``m``/``f``).
MALE, FEMALE = "M", "F"


@dataclass(frozen=True)
class Demographics:
    """Sex (``male``, bool) and age (whole years) of each record's patient."""

    male: np.ndarray
    age: np.ndarray

    @property
    def sex(self) -> np.ndarray:
        """The manifest's ``sex`` column: :data:`MALE` or :data:`FEMALE`."""
        return np.where(self.male, MALE, FEMALE).astype(object)

    @property
    def decades(self) -> np.ndarray:
        """Decades from :data:`AGE_CENTRE` (negative when younger)."""
        return (self.age - AGE_CENTRE) / 10.0

    @property
    def sign(self) -> np.ndarray:
        """+1 for men, -1 for women: sex differences split half each way."""
        return np.where(self.male, 1.0, -1.0)


def draw_demographics(d: Draws) -> Demographics:
    """Each record's patient's sex and age (per-patient draws of ``d``)."""
    male = d.bernoulli("sex", MALE_SHARE, "patient")
    age = AGE_MIN + np.floor(AGE_SPAN * d.beta("age", *AGE_BETA, "patient"))
    return Demographics(male, np.minimum(age, AGE_MIN + AGE_SPAN - 1).astype(np.int64))


def age_distribution() -> tuple[np.ndarray, np.ndarray]:
    """The ages the cohort can have and the exact probability of each."""
    ages = np.arange(AGE_MIN, AGE_MIN + AGE_SPAN)
    cdf = stats.beta(*AGE_BETA).cdf(np.arange(AGE_SPAN + 1) / AGE_SPAN)
    return ages, np.diff(cdf)


# -- the normal ECG ---------------------------------------------------------------------

#: QRS voltage (log of the amplitude scale): men ``e^{2 x 0.09}`` = 1.20 x women's.
LOG_VOLTAGE_SEX = 0.09
#: QRS voltage change per decade of age (log scale), men and women.
LOG_VOLTAGE_PER_DECADE = (-0.07, -0.03)
#: QRS duration, men minus women (seconds).
QRS_SEX_GAP_S = 0.008
#: QTc (Bazett), women minus men: 14 ms at 25 years, narrowing by 1 ms per decade.
QTC_SEX_GAP_S, QTC_SEX_GAP_AGE, QTC_SEX_GAP_PER_DECADE_S = 0.014, 25.0, -0.001
#: QTc lengthening per decade of age (both sexes; seconds).
QTC_PER_DECADE_S = 0.003
#: Resting heart rate, women minus men (bpm).
HEART_RATE_SEX_GAP = 4.0
#: PR interval, men minus women, and its lengthening per decade (seconds).
PR_SEX_GAP_S, PR_PER_DECADE_S = 0.006, 0.0025
#: Frontal QRS axis shift per decade of age (degrees; negative = leftward).
AXIS_PER_DECADE = -6.0
#: Anterior J point / ST elevation dipole (mV) of men at <= 20 years and >= 80 years (the
#: "male pattern" fades with age), and of women at every age.
J_ANTERIOR_MALE_MV, J_ANTERIOR_MALE_OLD_MV, J_ANTERIOR_FEMALE_MV = 0.08, 0.03, 0.025


def ecg_shifts(demo: Demographics, d: Draws) -> dict[str, np.ndarray]:
    """How sex and age move each record's normal ECG: ``log_voltage`` (added to the log
    amplitude scale), ``qrs_shift_s`` (QRS duration), ``jt_shift_s`` (JT at RR = 1 s, so
    QTc), ``heart_rate`` (bpm), ``pr_shift_s``, ``axis_deg`` and ``j_anterior`` (mV dipole
    along the anterior axis, lognormal between patients)."""
    sign, decades = demo.sign, demo.decades
    men_slope, women_slope = LOG_VOLTAGE_PER_DECADE
    qtc_gap = QTC_SEX_GAP_S + QTC_SEX_GAP_PER_DECADE_S * (demo.age - QTC_SEX_GAP_AGE) / 10.0
    young = np.clip((demo.age - 20.0) / 60.0, 0.0, 1.0)
    j_male = J_ANTERIOR_MALE_MV + (J_ANTERIOR_MALE_OLD_MV - J_ANTERIOR_MALE_MV) * young
    return {
        "log_voltage": LOG_VOLTAGE_SEX * sign
        + np.where(demo.male, men_slope, women_slope) * decades,
        "qrs_shift_s": 0.5 * QRS_SEX_GAP_S * sign,
        # women's JT is longer by the QTc gap plus men's longer QRS (QT = QRS + JT)
        "jt_shift_s": -0.5 * (qtc_gap + QRS_SEX_GAP_S) * sign + QTC_PER_DECADE_S * decades,
        "heart_rate": -0.5 * HEART_RATE_SEX_GAP * sign,
        "pr_shift_s": 0.5 * PR_SEX_GAP_S * sign + PR_PER_DECADE_S * decades,
        "axis_deg": AXIS_PER_DECADE * decades,
        "j_anterior": np.where(demo.male, j_male, J_ANTERIOR_FEMALE_MV)
        * np.exp(0.35 * d.normal("j_anterior", "patient")),
    }


# -- the labels -------------------------------------------------------------------------


@dataclass(frozen=True)
class Risk:
    """A condition's log odds: ``male`` (men vs women) and per decade of age, by sex."""

    male: float
    per_decade_men: float
    per_decade_women: float

    def log_odds(self, demo: Demographics) -> np.ndarray:
        """Each record's log odds relative to a woman of :data:`AGE_CENTRE`."""
        slope = np.where(demo.male, self.per_decade_men, self.per_decade_women)
        return self.male * demo.male + slope * demo.decades


#: Task → risk by sex and age (``docs/synthetic.md`` gives the targets and sources).
RISK: dict[str, Risk] = {
    # STEMI: ~2/3 of patients men; men ~65, women ~74 years old (Kytö et al. 2014)
    "stemi": Risk(np.log(2.7), np.log(1.22), np.log(2.0)),
    # LVEF <= 40 %: about 3x as common in men (Raymond et al. 2003), rises with age
    "lvef": Risk(np.log(2.6), np.log(1.35), np.log(1.35)),
    # HCM: 59 % men; diagnosed younger than the ECG population, women later than men
    "hcm": Risk(np.log(1.8), np.log(0.45), np.log(0.7)),
}


def label_probability(task: str, prevalence: float, demo: Demographics) -> np.ndarray:
    """Each record's probability of the task's label: the task's :data:`RISK` with the
    intercept that keeps the cohort's expected prevalence at ``prevalence``."""
    return special.expit(_intercept(task, prevalence) + RISK[task].log_odds(demo))


@functools.lru_cache(maxsize=64)
def _intercept(task: str, prevalence: float) -> float:
    """The intercept whose expected prevalence over the sex and age distribution is
    ``prevalence`` (exact sums over both sexes and every age)."""
    ages, weights = age_distribution()
    groups = [
        (share, RISK[task].log_odds(Demographics(np.full(len(ages), male), ages)))
        for male, share in ((True, MALE_SHARE), (False, 1.0 - MALE_SHARE))
    ]

    def excess(b0: float) -> float:
        expected = sum(share * weights @ special.expit(b0 + lo) for share, lo in groups)
        return float(expected) - prevalence

    return float(optimize.brentq(excess, -30.0, 30.0, xtol=1e-14))
