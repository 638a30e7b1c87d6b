"""How realistic simulated scribbles are: statistics compared with expert scribbles.

Per class (0 background, 1 RV, 2 MYO, 3 LV), pooled over a set of volumes:

* ``coverage_pct``: scribbled pixels of the class / pixels of the class in the dense label
  (all slices of the volumes), in percent;
* ``strokes_per_slice``: 8-connected components of the class's scribble per slice, over the
  slices whose dense label contains the class;
* ``boundary_mm``: mean in-plane distance (mm, the volume's spacing) of the class's scribbled
  pixels to the nearest pixel of another class (for background: to the heart);

and per source ``slices_pct`` (slices with any scribble) and ``off_label_pct`` (scribbled
pixels whose class differs from the dense label).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import ndimage

from .scribbles import ANNOTATORS, Annotator, simulate_volume
from ..report.markdown import md_header, md_row
from .strokes import EIGHT
from .volumes import NUM_CLASSES, UNLABELLED, Volume

log = logging.getLogger(__name__)
CLASS_NAMES = ("BG", "RV", "MYO", "LV")


class _Acc:
    """Sums behind the statistics of one source."""

    def __init__(self) -> None:
        self.scrib = np.zeros(NUM_CLASSES)
        self.label = np.zeros(NUM_CLASSES)
        self.strokes = np.zeros(NUM_CLASSES)
        self.present = np.zeros(NUM_CLASSES)
        self.dist = np.zeros(NUM_CLASSES)
        self.slices = self.annotated = self.off = 0

    def add(self, scribble: np.ndarray, label: np.ndarray, spacing: tuple[float, float, float]) -> None:
        for z in range(label.shape[0]):
            s, lab = scribble[z], label[z]
            self.slices += 1
            self.annotated += bool((s != UNLABELLED).any())
            self.off += int(((s != UNLABELLED) & (s != lab)).sum())
            for c in range(NUM_CLASSES):
                mask, inside = s == c, lab == c
                self.scrib[c] += mask.sum()
                self.label[c] += inside.sum()
                if inside.any():
                    self.present[c] += 1
                    self.strokes[c] += ndimage.label(mask, EIGHT)[1]
                if mask.any() and not inside.all():
                    edt = ndimage.distance_transform_edt(inside, sampling=spacing[1:])
                    self.dist[c] += edt[mask].sum()

    def result(self) -> dict[str, Any]:
        def div(a: np.ndarray, b: np.ndarray, k: float = 1.0) -> list[float | None]:
            return [float(k * x / y) if y else None for x, y in zip(a, b)]
        total = self.scrib.sum()
        return {"coverage_pct": dict(zip(CLASS_NAMES, div(self.scrib, self.label, 100.0))),
                "strokes_per_slice": dict(zip(CLASS_NAMES, div(self.strokes, self.present))),
                "boundary_mm": dict(zip(CLASS_NAMES, div(self.dist, self.scrib))),
                "slices_pct": 100.0 * self.annotated / max(self.slices, 1),
                "off_label_pct": 100.0 * self.off / total if total else 0.0,
                "scribbled_pixels": int(total), "slices": self.slices}


def scribble_stats(volumes: Sequence[Volume], scribbles: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """Statistics of scribbles against the dense labels of ``volumes``.

    Args:
        volumes: volumes with dense labels.
        scribbles: one (z, y, x) scribble per volume; None uses each volume's own (expert) scribble.

    Returns:
        ``{"coverage_pct": {class: %}, "strokes_per_slice": {...}, "boundary_mm": {...},
        "slices_pct": float, "off_label_pct": float, "scribbled_pixels": int, "slices": int}``.
    """
    acc = _Acc()
    for i, v in enumerate(volumes):
        if v.label is None:
            raise ValueError(f"{v.case} has no dense label")
        acc.add(v.scribble if scribbles is None else scribbles[i], v.label, v.spacing)
    return acc.result()


def compare_styles(volumes: Sequence[Volume], annotators: Mapping[str, Annotator] | None = None, *,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Statistics of the expert scribbles and of each annotator's simulated scribbles.

    Args:
        volumes: volumes with dense labels and expert scribbles.
        annotators: the annotators to simulate (default :data:`ANNOTATORS`).
        seed: simulation seed.

    Returns:
        One row per source (``expert`` first): ``{"source", "style", "params", **stats}``.
    """
    pool = ANNOTATORS if annotators is None else annotators
    rows = [{"source": "expert", "style": "expert", "params": None, **scribble_stats(volumes)}]
    for name, a in pool.items():
        log.info("simulating %s on %d volumes", name, len(volumes))
        sims = [simulate_volume(v.label, a, seed=seed, case=v.case) for v in volumes]
        params = {k: val for k, val in dataclasses.asdict(a).items() if k not in ("name", "style")
                  and not (k == "family" and val == "default" or k == "class_coverage" and val is None)}
        rows.append({"source": name, "style": a.style, "params": params, **scribble_stats(volumes, sims)})
    return rows


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def stats_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Three markdown tables (coverage, strokes per slice, distance to boundary) of :func:`compare_styles` rows."""
    parts = []
    for key, title, digits in (("coverage_pct", "Pixel coverage per class (% of the class's pixels)", 2),
                               ("strokes_per_slice", "Strokes (8-connected components) per slice, "
                                "over slices where the class is present", 2),
                               ("boundary_mm", "Mean distance of scribbled pixels to the class boundary (mm)", 2)):
        extra = ["slices annotated %", "off-label %"] if key == "coverage_pct" else []
        head = ["source", "style", *CLASS_NAMES, *extra]
        lines = [f"**{title}**", "", *md_header(head)]
        for r in rows:
            cells = [r["source"], r["style"], *(_fmt(r[key][c], digits) for c in CLASS_NAMES)]
            if extra:
                cells += [_fmt(r["slices_pct"], 1), _fmt(r["off_label_pct"], 3)]
            lines.append(md_row(cells))
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
