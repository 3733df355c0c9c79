"""Shared machinery for benchmark cases: repeats, medians, paired ratios, competing load.

A case module ``benchmarks/cases_<topic>.py`` exposes ``CASES``, a list of zero-argument
functions that each return one result dict, and is registered by one line in
``CASE_MODULES`` in ``benchmarks/run.py``. A case uses this module like this::

    from harness import Load, paired, result

    def my_case() -> dict:
        with Load() as load:
            timing = paired(ours=lambda: fast(x), baseline=lambda: slow(x))
        return result("fast vs slow", timing, load, unit="s",
                      baseline_name="slow()", target=">= 10x", ok=timing.ratio.median >= 10)

- :func:`measure` times one function ``repeats()`` times (after a warm-up) and gives the
  median with min and max; :func:`paired` times ours and the baseline alternately *within*
  each repeat (same process, same inputs) and reports the median of the per-repeat ratios.
- :class:`Load` records the 1-minute load average at start and end and measures competing
  CPU use over the case (see :data:`NOISY_CORES`); :func:`result` turns that into the
  verdict ``met`` / ``missed`` / ``noisy`` (or ``info`` where a case has no target).
- :func:`scaling` times a case at several sizes and fits the exponent of ``time ∝ size^k``.
- ``--quick`` (``run.py``) sets :data:`QUICK`: fewer repeats and smaller sizes for
  iteration; its results are marked as such. ``--full`` sets :data:`FULL`: scaling cases
  use the largest sizes.
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Repeats per figure (the issue's minimum is 5); ``--quick`` lowers it to 3.
REPEATS = 5
QUICK_REPEATS = 3
#: Set by ``run.py --quick``.
QUICK = False
#: Set by ``run.py --full``: the issue's full scaling sizes (about an hour on 2 cores).
FULL = False
#: A case is *noisy* when the machine's CPU time used by anything other than this process
#: (and its children), averaged over the case's wall time, exceeds this many cores. The
#: hypervisor's steal time counts as competition too.
NOISY_CORES = 0.3


def repeats() -> int:
    """How many repeats a figure gets in this run."""
    return QUICK_REPEATS if QUICK else REPEATS


def pick(default: Any, quick: Any) -> Any:
    """``quick`` under ``--quick``, else ``default`` (sizes, step counts)."""
    return quick if QUICK else default


@dataclass(frozen=True)
class Stats:
    """Median, min and max of repeated measurements."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Paired:
    """Ours and the baseline timed in the same repeats; ``ratio`` is per repeat."""

    ours: Stats
    baseline: Stats
    ratio: Stats


def timed(fn: Callable[[], Any]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(fn: Callable[[], Any], n: int | None = None, warmup: bool = True) -> Stats:
    """Seconds per call of ``fn`` over ``n`` (default :func:`repeats`) calls after a warm-up."""
    if warmup:
        fn()
    return Stats(tuple(timed(fn) for _ in range(n or repeats())))


def paired(
    ours: Callable[[], Any],
    baseline: Callable[[], Any],
    n: int | None = None,
    work_ratio: float = 1.0,
    warmup: bool = True,
) -> Paired:
    """Time ``ours`` and ``baseline`` alternately, ``n`` repeats; ratio = speed-up.

    The ratio of one repeat is ``baseline seconds / ours seconds × work_ratio``, where
    ``work_ratio`` = (ours' work) / (baseline's work) when the two calls do different
    amounts of work (e.g. 256 vs 8 images); higher is better for ours.
    """
    if warmup:
        ours()
        baseline()
    mine, theirs = [], []
    for _ in range(n or repeats()):
        mine.append(timed(ours))
        theirs.append(timed(baseline))
    ratios = tuple(b / a * work_ratio for a, b in zip(mine, theirs, strict=True))
    return Paired(Stats(tuple(mine)), Stats(tuple(theirs)), Stats(ratios))


def _busy_jiffies() -> tuple[int, float]:
    """(busy CPU jiffies of the whole machine incl. steal, clock ticks per second)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, os.sysconf("SC_CLK_TCK")


def _descendants_cpu() -> float:
    """CPU seconds of this process's live descendants (forkserver workers, Ray's raylet and
    workers), each with the children it has reaped; 0 without ``/proc``."""
    parents: dict[int, list[tuple[int, float]]] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        ppid, cpu = int(fields[1]), sum(int(v) for v in fields[11:15]) / ticks
        parents.setdefault(ppid, []).append((int(entry.name), cpu))
    total, stack = 0.0, [os.getpid()]
    while stack:
        for pid, cpu in parents.get(stack.pop(), []):
            total += cpu
            stack.append(pid)
    return total


def _own_cpu() -> float:
    """CPU seconds of this process, its reaped children and its live descendants (so a
    case's own workers never count as competing load)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage) + _descendants_cpu()


@dataclass
class Load:
    """Context manager: load average at start/end and CPU used by *other* processes.

    ``other_cores`` = (machine busy CPU seconds − the CPU seconds of this process and all
    its descendants) / wall seconds, over the ``with`` block; ``noisy`` when it exceeds
    :data:`NOISY_CORES`. Without ``/proc/stat`` (not Linux) ``other_cores`` is ``None``
    and the case is never marked noisy.
    """

    loadavg_start: float = 0.0
    loadavg_end: float = 0.0
    other_cores: float | None = None
    _marks: tuple[int, float, float] | None = field(default=None, repr=False)

    def __enter__(self) -> Load:
        self.loadavg_start = os.getloadavg()[0]
        try:
            busy, _ = _busy_jiffies()
        except OSError:
            return self
        self._marks = (busy, _own_cpu(), time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        self.loadavg_end = os.getloadavg()[0]
        if self._marks is None:
            return
        busy0, own0, wall0 = self._marks
        busy, ticks = _busy_jiffies()
        wall = time.perf_counter() - wall0
        other = (busy - busy0) / ticks - (_own_cpu() - own0)
        self.other_cores = max(0.0, other / wall) if wall > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.other_cores is not None and self.other_cores > NOISY_CORES

    def describe(self) -> str:
        other = "n/a" if self.other_cores is None else f"{self.other_cores:.2f}"
        return f"{self.loadavg_start:.2f} → {self.loadavg_end:.2f}; other {other} cores"


def verdict(ok: bool | None, load: Load) -> str:
    """``noisy`` under competing load, else ``met``/``missed`` (``info`` without a target)."""
    if load.noisy:
        return "noisy"
    if ok is None:
        return "info"
    return "met" if ok else "missed"


def result(
    name: str,
    timing: Stats | Paired,
    load: Load,
    unit: str = "s",
    baseline_name: str | None = None,
    target: str | None = None,
    ok: bool | None = None,
    notes: str = "",
    per: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One table row. ``per`` turns seconds into a rate (``per`` items / seconds).

    With ``per`` the value columns are rates (median rate = ``per`` / median seconds; min
    and max swap). ``extra`` keys go into results.json as they are.
    """

    def convert(stats: Stats) -> Stats:
        return Stats(tuple(per / v for v in stats.values)) if per else stats

    ours = convert(timing.ours if isinstance(timing, Paired) else timing)
    row: dict[str, Any] = {
        "name": name,
        "value": ours.median,
        "min": ours.min,
        "max": ours.max,
        "repeats": ours.n,
        "unit": unit,
    }
    if isinstance(timing, Paired):
        base = (
            timing.baseline
            if not per
            else Stats(tuple(p / r for p, r in zip(ours.values, timing.ratio.values, strict=True)))
        )
        row |= {
            "baseline_name": baseline_name,
            "baseline": base.median,
            "baseline_min": base.min,
            "baseline_max": base.max,
            "baseline_repeats": base.n,
            "ratio": timing.ratio.median,
            "ratio_min": timing.ratio.min,
            "ratio_max": timing.ratio.max,
        }
    row |= {
        "target": target,
        "verdict": verdict(ok, load),
        "load": load.describe(),
        "other_cores": load.other_cores,
        "quick": QUICK,
        "notes": notes,
        **extra,
    }
    return row


def unavailable(name: str, reason: str) -> dict[str, Any]:
    """A row for a case that cannot run here (e.g. a command that does not exist yet)."""
    return {"name": name, "verdict": "not available", "notes": reason}


def fit_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) on log(size): ``k`` in ``time ∝ size^k``."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def nlogn_exponent(sizes: Sequence[float]) -> float:
    """The fitted exponent that ``n log n`` itself has over ``sizes`` (a bit above 1)."""
    return fit_exponent(sizes, [s * math.log(s) for s in sizes])


#: Slack on the exponent before growth counts as faster than n log n (timing noise).
EXPONENT_SLACK = 0.1


def scaling(
    name: str,
    sizes: Sequence[int],
    run_at: Callable[[int], Callable[[], Any]],
    unit_of_size: str,
    notes: str = "",
) -> dict[str, Any]:
    """Time ``run_at(size)()`` (median of :func:`repeats`) at every size; fit the exponent.

    ``run_at(size)`` prepares inputs outside the timing and returns the call to time. The
    row's value is the fitted exponent; its target is growth no faster than ``n log n``.
    """
    with Load() as load:
        run_at(sizes[0])()  # warm-up: imports and first-call costs stay out of the fit
        per_size = {size: measure(run_at(size), warmup=False) for size in sizes}
    medians = [per_size[s].median for s in sizes]
    n = min(st.n for st in per_size.values())
    # One exponent per repeat (repeat i at every size) gives the spread of the fit.
    per_repeat = Stats(
        tuple(fit_exponent(sizes, [per_size[s].values[i] for s in sizes]) for i in range(n))
    )
    bound = nlogn_exponent(sizes) + EXPONENT_SLACK
    timings = "; ".join(
        f"{s:,} {unit_of_size}: {st.median:.3g} s ({st.min:.3g}–{st.max:.3g})"
        for s, st in per_size.items()
    )
    return result(
        name,
        per_repeat,
        load,
        unit="exponent k (time ∝ n^k)",
        target=f"≤ n log n (k ≤ {bound:.2f})",
        ok=per_repeat.median <= bound,
        notes=f"{timings}. {notes}".strip(),
        exponent_of_medians=fit_exponent(sizes, medians),
        seconds={str(s): list(st.values) for s, st in per_size.items()},
    )
