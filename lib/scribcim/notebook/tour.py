"""Data tour: what the dense labels and the scribbles of a dataset look like, per volume, class and patient.

:func:`volume_table` gives one row per volume: case, patient, part, slices, in-plane shape,
spacing and, per class (RV, MYO, LV, BG): the labelled voxel fraction, the number of scribbled
pixels, the scribble coverage (scribbled / labelled pixels of the class, in percent, as
:func:`scribcim.data.scribble_stats.scribble_stats` computes it, with its strokes per slice and
distance to the boundary) and the slices holding a scribble of the class. Volumes without a dense
label (MSCMR's training subjects) get NaN for everything that needs one; so do the scribble
statistics of volumes without any scribble (MSCMR's validation and test subjects), which were
never scribble-annotated rather than annotated with zero coverage.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import dataset_root, load_volumes
from ..data.scribble_stats import CLASS_NAMES as _STAT_NAMES
from ..data.scribble_stats import scribble_stats
from ..data.volumes import UNLABELLED, Volume
from ..errors import ConfigError
from ..provenance import git_state
from ..viz.common import save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)
#: display order; label value of each class
CLASSES: tuple[str, ...] = ("RV", "MYO", "LV", "BG")
VALUE = {name: i for i, name in enumerate(_STAT_NAMES)}
PARTS = ("train", "val", "test", "all")
PER_CLASS = ("label_frac", "labelled", "scribbled", "coverage_pct", "scribbled_slices", "strokes_per_slice",
             "boundary_mm")


def load_tour_volumes(dataset: str = "acdc", data_root: str | Path | None = None, fold: int = 1,
                      part: str = "train") -> dict[str, list[Volume]]:
    """Volumes of one part of a fold (``train``, ``val``, ``test``) or of all three (``all``), by part."""
    if part not in PARTS:
        raise ConfigError(f"part must be one of {list(PARTS)}, got {part!r}")
    root = dataset_root(dataset, data_root)
    parts = ("train", "val", "test") if part == "all" else (part,)
    out = {p: load_volumes(dataset, p, fold=fold, data_root=root) for p in parts}
    log.info("%s fold %d: %s", dataset, fold, {p: len(v) for p, v in out.items()})
    return out


def volume_row(v: Volume, part: str = "") -> dict[str, object]:
    """One row of :func:`volume_table` (see module docstring)."""
    scr = np.bincount(v.scribble.ravel(), minlength=UNLABELLED + 1)
    row: dict[str, object] = {"case": v.case, "patient": v.patient, "part": part, "slices": v.num_slices,
                              "height": int(v.image.shape[1]), "width": int(v.image.shape[2]),
                              "dz_mm": v.spacing[0], "dy_mm": v.spacing[1], "dx_mm": v.spacing[2],
                              "has_label": v.label is not None, "has_scribble": bool(scr[:UNLABELLED].any()),
                              "scribbled_slices": int((v.scribble != UNLABELLED).any(axis=(1, 2)).sum())}
    stats = scribble_stats([v]) if v.label is not None and row["has_scribble"] else None
    lab = np.bincount(v.label.ravel(), minlength=len(VALUE)) if v.label is not None else None
    for c in CLASSES:
        k = VALUE[c]
        row[f"{c}_label_frac"] = float(lab[k] / v.label.size) if lab is not None else np.nan
        row[f"{c}_labelled"] = int(lab[k]) if lab is not None else np.nan
        row[f"{c}_scribbled"] = int(scr[k])
        row[f"{c}_scribbled_slices"] = int((v.scribble == k).any(axis=(1, 2)).sum())
        for key in ("coverage_pct", "strokes_per_slice", "boundary_mm"):
            val = stats[key][c] if stats is not None else None
            row[f"{c}_{key}"] = np.nan if val is None else float(val)
    return row


def volume_table(volumes: Sequence[Volume] | Mapping[str, Sequence[Volume]]) -> pd.DataFrame:
    """One row per volume (a mapping part -> volumes fills the ``part`` column)."""
    parts = volumes if isinstance(volumes, Mapping) else {"": volumes}
    rows = [volume_row(v, p) for p, vols in parts.items() for v in vols]
    if not rows:
        raise ConfigError("no volumes to tour")
    return pd.DataFrame(rows)


def long_table(table: pd.DataFrame) -> pd.DataFrame:
    """The per-class columns of :func:`volume_table` as rows: one per (volume, class)."""
    base = ["case", "patient", "part", "slices", "has_label", "has_scribble"]
    frames = [table[base + [f"{c}_{k}" for k in PER_CLASS]].set_axis(base + list(PER_CLASS), axis=1)
              .assign(cls=c) for c in CLASSES]
    return pd.concat(frames, ignore_index=True)


def _pooled_pct(d: pd.DataFrame) -> float:
    """100 * scribbled / labelled pixels, summed over the volumes that have both a label and a scribble."""
    ok = d[d.labelled.notna() & d.has_scribble]
    return float(100.0 * ok.scribbled.sum() / ok.labelled.sum()) if ok.labelled.sum() else np.nan


def class_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per class: label fraction, scribbled pixels, coverage (pooled, and mean/std/median over volumes).

    Slice percentages are over the slices of the volumes that hold any scribble.
    """
    rows = []
    total_slices = int(table.slices[table.has_scribble].sum())
    all_scribbled = max(int(table[[f"{k}_scribbled" for k in CLASSES]].to_numpy().sum()), 1)
    for c, d in long_table(table).groupby("cls", sort=False):
        rows.append({"class": c, "volumes": len(d), "labelled_volumes": int(d.has_label.sum()),
                     "scribbled_volumes": int(d.has_scribble.sum()),
                     "label_frac_mean": d.label_frac.mean(), "labelled_voxels": d.labelled.sum(min_count=1),
                     "scribbled_pixels": int(d.scribbled.sum()),
                     "scribbled_share_pct": 100.0 * d.scribbled.sum() / all_scribbled,
                     "coverage_pct_pooled": _pooled_pct(d), "coverage_pct_mean": d.coverage_pct.mean(),
                     "coverage_pct_std": d.coverage_pct.std(), "coverage_pct_median": d.coverage_pct.median(),
                     "scribbled_slices_pct": 100.0 * d.scribbled_slices.sum() / max(total_slices, 1),
                     "strokes_per_slice_mean": d.strokes_per_slice.mean(), "boundary_mm_mean": d.boundary_mm.mean()})
    return pd.DataFrame(rows)


def patient_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per patient: volumes, slices, scribbled pixels and the pooled coverage of each class."""
    rows = []
    for p, d in table.groupby("patient"):
        row: dict[str, object] = {"patient": p, "volumes": len(d), "slices": int(d.slices.sum()),
                                  "scribbled_slices": int(d.scribbled_slices.sum()),
                                  "scribbled_pixels": int(sum(d[f"{c}_scribbled"].sum() for c in CLASSES))}
        for c in CLASSES:
            cols = d[[f"{c}_scribbled", f"{c}_labelled", "has_scribble"]].set_axis(
                ["scribbled", "labelled", "has_scribble"], axis=1)
            row[f"{c}_coverage_pct"] = _pooled_pct(cols)
        rows.append(row)
    return pd.DataFrame(rows)


def save_tour(out_dir: Path | str, table: pd.DataFrame, figures: Mapping[str, Figure], *,
              dataset: str, fold: int, part: str) -> dict[str, Path]:
    """Write ``tour.csv``, ``tour_per_class.csv``, ``tour_per_patient.csv`` and ``<name>.png`` (+ provenance)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"tour": out / "tour.csv", "per_class": out / "tour_per_class.csv",
             "per_patient": out / "tour_per_patient.csv"}
    table.to_csv(paths["tour"], index=False, float_format="%.6g")
    class_summary(table).to_csv(paths["per_class"], index=False, float_format="%.6g")
    patient_summary(table).to_csv(paths["per_patient"], index=False, float_format="%.6g")
    prov = {"git": git_state(), "made_by": "lib/scribcim/notebook/tour.py (notebooks/01_data_tour.ipynb)",
            "dataset": dataset, "fold": fold, "part": part, "volumes": len(table)}
    for name, fig in figures.items():
        paths[name] = save_figure(fig, out / f"{name}.png", prov)
    log.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    return paths
