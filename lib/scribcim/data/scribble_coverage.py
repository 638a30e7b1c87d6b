"""Per-class coverage of simulated training scribbles, per inconsistency level, and its calibration.

Coverage of class ``c`` = pixels scribbled with ``c`` on pixels whose dense label is ``c`` / pixels whose
dense label is ``c``, pooled over a set of volumes (all slices), in percent (as ``coverage_pct`` of
:mod:`scribcim.data.scribble_stats`; simulated scribbles are never off-label, so the two agree).

A volume's scribble depends only on (annotator, seed, case), not on the inconsistency level, so
:func:`level_coverage` simulates each (case, annotator, seed) once and sums the counts of the annotators
that :func:`~scribcim.data.scribbles.assign_annotators` picks at each level: the same scribbles as
:func:`~scribcim.data.scribbles.training_scribbles` at that level, without drawing them again.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from .scribble_stats import CLASS_NAMES
from .scribbles import ANNOTATORS, Annotator, assign_annotators, simulate_volume
from .volumes import NUM_CLASSES, Volume

log = logging.getLogger(__name__)


def class_counts(scribble: np.ndarray, label: np.ndarray) -> np.ndarray:
    """``(2, NUM_CLASSES)`` int array: pixels scribbled with each class on that class, pixels of each class."""
    return np.array([[int(((scribble == c) & (label == c)).sum()) for c in range(NUM_CLASSES)],
                     [int((label == c).sum()) for c in range(NUM_CLASSES)]], dtype=np.int64)


def coverage_pct(counts: np.ndarray) -> dict[str, float]:
    """``{class name: %}`` of summed :func:`class_counts` (NaN for a class with no pixels)."""
    return {n: float(100.0 * s / t) if t else float("nan") for n, s, t in zip(CLASS_NAMES, counts[0], counts[1])}


def expert_coverage(volumes: Sequence[Volume]) -> dict[str, float]:
    """Coverage of the volumes' own (expert) scribbles, pooled over the volumes: pixels scribbled with a class on
    that class (off-label strokes not counted) over the class's dense-label pixels, in percent."""
    return coverage_pct(sum(class_counts(v.scribble, v.label) for v in volumes))


def volume_counts(scribble: np.ndarray, volume: Volume) -> np.ndarray:
    """:func:`class_counts` of a scribble of ``volume`` (a :class:`CountCache`'s default measure)."""
    return class_counts(scribble, volume.label)


#: the measure a :class:`CountCache` takes when none is named: class counts (coverage)
COUNTS = "counts"


class CountCache:
    """Measures of each (case, annotator, seed) scribble, simulated once for all of them.

    ``measures`` maps a name to ``measure(scribble, volume)``, an array that sums over volumes (counts, not
    ratios); default ``{COUNTS: class counts}``. Every measure is taken on the one simulation."""

    def __init__(self, volumes: Sequence[Volume],
                 measures: Mapping[str, Callable[[np.ndarray, Volume], np.ndarray]] | None = None) -> None:
        missing = [v.case for v in volumes if v.label is None]
        if missing:
            raise ValueError(f"cannot measure coverage without dense labels: {missing[:5]}")
        self.volumes = {v.case: v for v in volumes}
        self.measures = dict(measures or {COUNTS: volume_counts})
        self._values: dict[tuple[str, Annotator, int], dict[str, np.ndarray]] = {}

    def get(self, case: str, annotator: Annotator, seed: int, measure: str = COUNTS) -> np.ndarray:
        """The ``measure`` of ``annotator``'s scribble of ``case`` with ``seed``."""
        key = (case, annotator, seed)
        if key not in self._values:
            v = self.volumes[case]
            drawn = simulate_volume(v.label, annotator, seed=seed, case=case)
            self._values[key] = {name: f(drawn, v) for name, f in self.measures.items()}
        return self._values[key][measure]


def level_sums(volumes: Sequence[Volume], base: str, levels: Sequence[float], seeds: Sequence[int],
               cache: CountCache, annotators: Mapping[str, Annotator] | None = None, measure: str = COUNTS
               ) -> Iterator[tuple[float, int, int, np.ndarray]]:
    """``(level, seed, volumes switched from the base, summed measure)`` of the training scribbles at each level
    and seed (the annotators :func:`~scribcim.data.scribbles.assign_annotators` picks), level 0 first."""
    pool = dict(ANNOTATORS if annotators is None else annotators)
    cases = [v.case for v in volumes]
    for seed in seeds:
        for level in [0.0, *[float(x) for x in levels if float(x) != 0.0]]:
            who = assign_annotators(cases, base, level, seed=seed, annotators=pool)
            yield level, seed, sum(who[c] is not pool[base] for c in cases), sum(cache.get(c, who[c], seed, measure)
                                                                                 for c in cases)


def annotator_coverage(volumes: Sequence[Volume], annotator: Annotator, seeds: Sequence[int] = (0,),
                       cache: CountCache | None = None) -> dict[str, float]:
    """Coverage of ``annotator`` drawing every volume, pooled over the volumes and ``seeds``."""
    cache = cache or CountCache(volumes)
    return coverage_pct(sum(cache.get(v.case, annotator, s) for s in seeds for v in volumes))


def level_coverage(volumes: Sequence[Volume], base: str, levels: Sequence[float], seeds: Sequence[int], *,
                   annotators: Mapping[str, Annotator] | None = None,
                   cache: CountCache | None = None) -> list[dict]:
    """Coverage of the training scribbles at each level and seed (what ``training_scribbles`` draws).

    Returns:
        One row per (level, seed, class): ``level, scribble_seed, class, coverage_pct, relative_to_level0,
        scribbled_pixels, class_pixels, switched`` (volumes not drawn by the base); ``relative_to_level0`` is
        the coverage over that of level 0 with the same seed.
    """
    rows, ref = [], {}
    for level, seed, switched, counts in level_sums(volumes, base, levels, seeds, cache or CountCache(volumes),
                                                    annotators):
        cov = coverage_pct(counts)
        ref.setdefault(seed, cov)
        log.info("%s inconsistency %.2f seed %d (%d/%d switched): %s", base, level, seed, switched, len(volumes),
                 ", ".join(f"{k} {x:.2f}%" for k, x in cov.items()))
        if level not in [float(x) for x in levels]:
            continue
        rows += [{"level": level, "scribble_seed": seed, "class": n, "coverage_pct": cov[n],
                  "relative_to_level0": cov[n] / ref[seed][n] if ref[seed][n] else float("nan"),
                  "scribbled_pixels": int(counts[0][k]), "class_pixels": int(counts[1][k]),
                  "switched": switched} for k, n in enumerate(CLASS_NAMES)]
    return rows


def calibrate(volumes: Sequence[Volume], annotator: Annotator, target: Mapping[str, float], *,
              seeds: Sequence[int] = (0,), rounds: int = 3) -> Annotator:
    """``annotator`` with ``class_coverage`` rescaled so that its per-class coverage on ``volumes`` meets ``target``.

    Each round measures the coverage and multiplies each class's fraction by target / measured (capped at 1:
    a class that stays short of its target needs a wider pen or more slices). Coverage grows about linearly
    with the fraction kept, so two or three rounds reach a few percent.
    """
    a = annotator if annotator.class_coverage else dataclasses.replace(
        annotator, class_coverage=(annotator.coverage,) * NUM_CLASSES)
    cache = CountCache(volumes)
    for r in range(rounds):
        cov = annotator_coverage(volumes, a, seeds, cache)
        log.info("calibrate %s round %d: fractions %s -> coverage %s", a.name, r, a.class_coverage,
                 {k: round(x, 3) for k, x in cov.items()})
        frac = tuple(min(1.0, round(f * target[n] / cov[n], 3)) if cov[n] else f
                     for f, n in zip(a.class_coverage, CLASS_NAMES))
        a = dataclasses.replace(a, class_coverage=frac)
    return a
