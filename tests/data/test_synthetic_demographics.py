"""Sex and age of the synthetic cohort: their coding, and the published sex and age
differences measured back from the generated signals (docs/synthetic.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import signal as sps

from bench.api import AGE_BANDS, age_band, age_years, known_sex
from bench.data.signal import STANDARD_LEADS
from bench.data.strata import patient_groups
from bench.data.synthetic import SyntheticConfig, generate_batch, synthetic_manifest

FS = 500
_BAND = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=FS, output="sos")
_PRE, _POST = int(0.35 * FS), int(0.6 * FS)


def _measure(x: np.ndarray) -> dict[str, float]:
    """A simple measurement of one (12, 5000) record, from the signal alone: R peaks on the
    summed slope of the 0.5–40 Hz leads, the median beat, its baseline 55–75 ms before R;
    heart rate; Sokolow-Lyon voltage (S V1 + max R V5/V6); the 12-lead QRS voltage sum; the
    frontal QRS axis from the net QRS areas of I and aVF; QRS onset and offset where the
    spatial magnitude falls under 8 % of its R peak; T end where it falls under 15 % of the
    T peak; QRS duration, and QTc by Bazett; the ST level of V2–V3 at R + 80 ms."""
    y = sps.sosfiltfilt(_BAND, x, axis=-1)
    slope = np.abs(np.diff(y, axis=1)).sum(axis=0)
    peaks, _ = sps.find_peaks(
        slope, distance=int(0.3 * FS), height=0.4 * np.percentile(slope, 99.5)
    )
    rr = float(np.median(np.diff(peaks))) / FS
    beats = [y[:, p - _PRE : p + _POST] for p in peaks if _PRE <= p < y.shape[1] - _POST]
    med = np.median(np.stack(beats), axis=0)
    med -= med[:, _PRE - int(0.075 * FS) : _PRE - int(0.055 * FS)].mean(axis=1, keepdims=True)
    mag = np.linalg.norm(med, axis=0)
    qrs = slice(_PRE - int(0.06 * FS), _PRE + int(0.06 * FS))
    r = qrs.start + int(mag[qrs].argmax())
    onset = r - int(np.argmax(mag[r::-1] < 0.08 * mag[r]))
    offset = r + int(np.argmax(mag[r:] < 0.08 * mag[r]))
    t_peak = r + int(0.15 * FS) + int(mag[r + int(0.15 * FS) :].argmax())
    t_end = t_peak + int(np.argmax(mag[t_peak:] < 0.15 * mag[t_peak]))
    lead = {name: med[i, qrs] for i, name in enumerate(STANDARD_LEADS)}
    st = slice(r + int(0.075 * FS), r + int(0.085 * FS))
    v2_v3 = [STANDARD_LEADS.index("V2"), STANDARD_LEADS.index("V3")]
    return {
        "heart_rate": 60.0 / rr,
        "sokolow_lyon": -lead["V1"].min() + max(lead["V5"].max(), lead["V6"].max()),
        "voltage_sum": sum(float(np.ptp(v)) for v in lead.values()),
        "axis": float(np.degrees(np.arctan2(lead["aVF"].sum(), lead["I"].sum()))),
        "qrs_ms": 1000.0 * (offset - onset) / FS,
        "qtc_ms": 1000.0 * (t_end - onset) / FS / np.sqrt(rr),
        "st_v2_v3": float(med[v2_v3, st].mean()),
    }


@pytest.fixture(scope="module")
def normal_ecgs() -> pd.DataFrame:
    """Measurements of 250 men's and 250 women's first ECGs without any pattern or
    confounder, with their sex and age."""
    config = SyntheticConfig(task="hcm", n_patients=3000, seed=1)
    m = synthetic_manifest(config)
    m = m[(m["label"] == 0) & (m["confounders"] == "") & (m["ecg_index"] == 1)]
    m = pd.concat([m[m["sex"] == sex].iloc[:250] for sex in ("M", "F")])
    signals = generate_batch(m["record_id"].tolist(), config)
    rows = pd.DataFrame([_measure(x) for x in signals], index=m.index)
    return rows.assign(sex=m["sex"], age=m["age"])


def test_manifest_has_sex_and_age_with_the_documented_coding() -> None:
    m = synthetic_manifest(SyntheticConfig(task="stemi", n_patients=4000, seed=2))
    assert set(m["sex"]) == {"M", "F"}
    assert m["age"].dtype == np.int64 and m["age"].between(18, 95).all()
    per_patient = m.groupby("patient_id")[["sex", "age"]].nunique()
    assert (per_patient == 1).all().all()  # patient traits, the same on every ECG
    patients = m.groupby("patient_id")[["sex", "age"]].first()
    assert abs((patients["sex"] == "M").mean() - 0.52) < 0.03
    assert abs(patients["age"].mean() - 61.4) < 1.0 and abs(patients["age"].median() - 62) <= 2
    # the values the subgroup metrics and stratified splits read
    assert set(known_sex(m["sex"])) == {"m", "f"}
    bands = age_band(age_years(m["age"]))
    low, high = AGE_BANDS
    assert set(bands) == {f"<{low:g}", f"{low:g}-{high:g}", f">{high:g}"}
    assert (bands[m["age"] < low] == f"<{low:g}").all()
    groups = patient_groups(m)
    assert groups is not None and set(groups) == {
        f"{s}|{b}" for s in "mf" for b in (f"<{low:g}", f"{low:g}-{high:g}", f">{high:g}")
    }


def test_same_seed_same_demographics_other_seed_others() -> None:
    config = SyntheticConfig(task="lvef", n_patients=300, seed=5)
    a, b = synthetic_manifest(config), synthetic_manifest(config)
    pd.testing.assert_frame_equal(a, b)
    c = synthetic_manifest(SyntheticConfig(task="lvef", n_patients=300, seed=6))
    assert not (a["age"].to_numpy()[:100] == c["age"].to_numpy()[:100]).all()
    # a larger cohort extends a smaller one: patient k keeps their sex and age
    big = synthetic_manifest(SyntheticConfig(task="lvef", n_patients=600, seed=5))
    pd.testing.assert_frame_equal(big.iloc[: len(a)][["sex", "age"]], a[["sex", "age"]])


@pytest.mark.parametrize(
    ("task", "men_to_women"),
    # risk ratio of men to women the docs state: STEMI ~1.6, LVEF ~2.2, HCM ~1.4
    [("stemi", (1.3, 2.0)), ("lvef", (1.8, 2.6)), ("hcm", (1.2, 1.7))],
)
def test_prevalence_by_sex_and_age_goes_the_documented_way(
    task: str, men_to_women: tuple[float, float]
) -> None:
    m = synthetic_manifest(SyntheticConfig(task=task, n_patients=20_000, seed=4))
    rate = m.groupby("sex")["label"].mean()
    low, high = men_to_women
    assert low < rate["M"] / rate["F"] < high
    positive_age = m.loc[m["label"] == 1, "age"].mean()
    negative_age = m.loc[m["label"] == 0, "age"].mean()
    # STEMI and low LVEF come with age; HCM is diagnosed younger than the ECG population
    assert (positive_age > negative_age + 2) if task != "hcm" else (positive_age < negative_age - 3)


def test_measured_sex_differences_have_the_documented_direction_and_size(
    normal_ecgs: pd.DataFrame,
) -> None:
    mean = normal_ecgs.groupby("sex").mean(numeric_only=True)
    men, women = mean.loc["M"], mean.loc["F"]
    # QRS voltage: men ~20 % higher (documented: 1.20)
    assert 1.1 < men["sokolow_lyon"] / women["sokolow_lyon"] < 1.35
    assert 1.1 < men["voltage_sum"] / women["voltage_sum"] < 1.35
    # QRS duration: men longer (documented 8 ms; a threshold measurement sees less)
    assert 3.0 < men["qrs_ms"] - women["qrs_ms"] < 12.0
    # QTc: women longer (documented 14 ms at 25 years, 10 ms at 65)
    assert 6.0 < women["qtc_ms"] - men["qtc_ms"] < 20.0
    # resting heart rate: women faster (documented 4 bpm)
    assert 1.5 < women["heart_rate"] - men["heart_rate"] < 7.0
    # anterior ST elevation (the male J-point pattern): ~0.1 mV higher in men's V2–V3
    assert 0.03 < men["st_v2_v3"] - women["st_v2_v3"] < 0.12


def test_measured_age_trends_have_the_documented_direction(normal_ecgs: pd.DataFrame) -> None:
    def per_decade(frame: pd.DataFrame, column: str) -> float:
        return 10.0 * float(np.polyfit(frame["age"], frame[column], 1)[0])

    # frontal QRS axis: leftward by ~6 degrees per decade (documented -6)
    assert -9.0 < per_decade(normal_ecgs, "axis") < -3.0
    # men's QRS voltage falls with age (documented -7 % per decade on the log scale)
    men = normal_ecgs[normal_ecgs["sex"] == "M"].assign(
        log_voltage=lambda f: np.log(f["voltage_sum"])
    )
    assert -0.12 < per_decade(men, "log_voltage") < -0.03
    # men's J-point pattern fades with age (documented 0.08 -> 0.03 mV dipole, 20 -> 80
    # years); women's stays flat
    assert -0.035 < per_decade(men, "st_v2_v3") < -0.008
    assert abs(per_decade(normal_ecgs[normal_ecgs["sex"] == "F"], "st_v2_v3")) < 0.008
