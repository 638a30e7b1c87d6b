"""Where scribbles lie, beside how much they mark: slices marked and stroke depth, per class.

Two scribble sets with the same per-class coverage (:mod:`scribcim.data.scribble_coverage`) can still differ in
*where* they mark. Per class, pooled over volumes:

* ``slices_marked_pct``: of the slices that contain the class (dense label), the share with a scribble of that
  class on it;
* ``depth_mm``: the mean in-plane distance (mm, the volume's spacing) from each pixel scribbled with the class on
  the class to the nearest pixel of another class: small on a contour, large on a centre line; for BG, how far
  from the heart the background strokes run.

Only pixels scribbled with a class on that class count (expert strokes may stray off their label); depth leaves
out slices holding one class only (background strokes on a slice without heart have no distance to it).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy import ndimage

from .scribble_coverage import CountCache, level_sums
from .scribble_stats import CLASS_NAMES
from .scribbles import ANNOTATORS, Annotator
from .volumes import NUM_CLASSES, Volume

#: the rows of :func:`stroke_geometry`'s array, summed over volumes
SUMS = ("slices_with_class", "slices_marked", "depth_sum_mm", "pixels")


def stroke_geometry(scribble: np.ndarray, label: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """``(4, NUM_CLASSES)`` sums (:data:`SUMS`) of one (z, y, x) scribble against its dense label; ``spacing`` is
    (dz, dy, dx) in mm."""
    out = np.zeros((len(SUMS), NUM_CLASSES))
    for z in range(label.shape[0]):
        for c in range(NUM_CLASSES):
            region = label[z] == c
            if not region.any():
                continue
            marked = (scribble[z] == c) & region
            out[0, c] += 1
            out[1, c] += bool(marked.any())
            if marked.any() and not region.all():  # a slice of one class has no distance to another
                depth = ndimage.distance_transform_edt(region, sampling=tuple(spacing[1:]))
                out[2:, c] += [float(depth[marked].sum()), int(marked.sum())]
    return out


def volume_geometry(scribble: np.ndarray, volume: Volume) -> np.ndarray:
    """:func:`stroke_geometry` of a scribble of ``volume`` (the measure of a :class:`CountCache`)."""
    return stroke_geometry(scribble, volume.label, volume.spacing)


def geometry_values(sums: np.ndarray) -> dict[str, dict[str, float]]:
    """``{class: {"slices_marked_pct", "depth_mm", "pixels"}}`` of summed :func:`stroke_geometry` arrays (NaN where
    a class has no slice or no marked pixel)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100.0 * sums[1] / sums[0]
        depth = sums[2] / sums[3]
    return {n: {"slices_marked_pct": float(pct[k]), "depth_mm": float(depth[k]), "pixels": int(sums[3, k])}
            for k, n in enumerate(CLASS_NAMES)}


def expert_geometry(volumes: Sequence[Volume]) -> dict[str, dict[str, float]]:
    """:func:`geometry_values` of the volumes' own (expert) scribbles."""
    return geometry_values(sum(stroke_geometry(v.scribble, v.label, v.spacing) for v in volumes))


#: the name of :func:`volume_geometry` among a :class:`CountCache`'s measures
GEOMETRY = "geometry"


def geometry_rows(volumes: Sequence[Volume], base: str, levels: Sequence[float], seeds: Sequence[int], *,
                  annotators: Mapping[str, Annotator] | None = None, cache: CountCache | None = None) -> list[dict]:
    """Rows of the training scribbles' geometry: per level and seed (``scope`` ``level``, ``name`` the level), and
    per annotator a level may pick (the base, and its family's other styles) drawing every volume (``scope``
    ``member``, ``name`` the annotator); each row one class with ``slices_marked_pct``, ``depth_mm``, ``pixels``.
    ``cache``: one whose measures include :data:`GEOMETRY` (shared with coverage: each scribble simulated once)."""
    pool = dict(ANNOTATORS if annotators is None else annotators)
    cache = cache or CountCache(volumes, {GEOMETRY: volume_geometry})
    rows = [{"scope": "level", "name": f"{level:.2f}", "scribble_seed": seed, "class": n, **v}
            for level, seed, _, sums in level_sums(volumes, base, levels, seeds, cache, pool, GEOMETRY)
            if level in [float(x) for x in levels] for n, v in geometry_values(sums).items()]
    b = pool[base]
    for a in [b, *(a for a in pool.values() if a.family == b.family and a.style != b.style)]:  # who may draw
        for seed in seeds:
            sums = sum(cache.get(v.case, a, seed, GEOMETRY) for v in volumes)
            rows += [{"scope": "member", "name": a.name, "scribble_seed": seed, "class": n, **v}
                     for n, v in geometry_values(sums).items()]
    return rows
