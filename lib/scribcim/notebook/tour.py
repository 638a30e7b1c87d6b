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
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..data import dataset_root, load_volumes
from ..data.scribble_stats import CLASS_NAMES as _STAT_NAMES
from ..data.scribble_stats import scribble_stats
from ..data.volumes import UNLABELLED, Volume
from ..errors import ConfigError
from ..provenance import git_state
from ..viz.common import LABEL_CMAP, SCRIBBLE_CMAP, fixed_jitter, save_figure

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


def plot_class_frequencies(table: pd.DataFrame) -> plt.Figure:
    """Share of each class among the dense-label voxels and among the scribbled pixels (log scale)."""
    summ = class_summary(table).set_index("class").loc[list(CLASSES)]
    lab = summ.labelled_voxels.fillna(0)
    shares = {"dense label voxels": 100.0 * lab / lab.sum() if lab.sum() else lab * np.nan,
              "scribbled pixels": summ.scribbled_share_pct}
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    x = np.arange(len(CLASSES))
    for i, (name, vals) in enumerate(shares.items()):
        bars = ax.bar(x + (i - 0.5) * 0.38, vals.fillna(0).to_numpy(), width=0.38, label=name)
        ax.bar_label(bars, labels=[("n/a" if np.isnan(v) else f"{v:.2g}") for v in vals], fontsize=7)
    ax.set_xticks(x, CLASSES)
    ax.set_yscale("log")
    ax.set(ylabel="% of all voxels / scribbled pixels", title="class frequencies")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_coverage(table: pd.DataFrame) -> plt.Figure:
    """Scribble coverage per class: per volume (box + points) and per patient (pooled over its volumes)."""
    import seaborn as sns
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 2.2]})
    long = long_table(table).dropna(subset=["coverage_pct"])
    if long.empty:
        for a in (ax, bx):
            a.text(0.5, 0.5, "no volume with both a dense label and a scribble:\ncoverage undefined", ha="center",
                   va="center")
            a.axis("off")
        return fig
    sns.boxplot(data=long, x="cls", y="coverage_pct", order=list(CLASSES), ax=ax, fliersize=0, color="0.85")
    with fixed_jitter():
        sns.stripplot(data=long, x="cls", y="coverage_pct", order=list(CLASSES), ax=ax, size=2.5, alpha=0.6)
    ax.set(xlabel="class", ylabel="scribbled / labelled pixels (%)", title="per volume")
    pat = patient_summary(table).melt(id_vars="patient", value_vars=[f"{c}_coverage_pct" for c in CLASSES],
                                      var_name="cls", value_name="coverage_pct").dropna()
    pat["cls"] = pat.cls.str.replace("_coverage_pct", "")
    order = sorted(pat.patient.unique())
    sns.stripplot(data=pat, x="patient", y="coverage_pct", hue="cls", hue_order=list(CLASSES), order=order,
                  ax=bx, size=4, jitter=False)
    step = max(1, len(order) // 25)
    bx.set_xticks(range(0, len(order), step), [str(p) for p in order[::step]], fontsize=7)
    bx.set(xlabel="patient", ylabel="scribbled / labelled pixels (%)", title="per patient (pooled over volumes)")
    bx.legend(title="class", fontsize=8)
    for a in (ax, bx):
        a.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def example_volumes(volumes: Sequence[Volume], n: int) -> list[Volume]:
    """``n`` volumes evenly spaced through ``volumes`` (deterministic)."""
    if n <= 0 or not volumes:
        return []
    idx = np.unique(np.linspace(0, len(volumes) - 1, min(n, len(volumes))).round().astype(int))
    return [volumes[i] for i in idx]


def plot_examples(volumes: Sequence[Volume], n: int = 6) -> plt.Figure:
    """Middle slice of ``n`` volumes: image, scribble overlay, dense-label overlay (one row per volume)."""
    chosen = example_volumes(volumes, n)
    if not chosen:
        raise ConfigError("no volumes to show: n must be >= 1 and the part non-empty")
    fig, axes = plt.subplots(len(chosen), 3, figsize=(7.5, 2.6 * len(chosen)), squeeze=False)
    for row, v in zip(axes, chosen):
        z = v.num_slices // 2
        img = v.image[z]
        for ax, name in zip(row, ("image", "scribble", "dense label")):
            ax.imshow(img, cmap="gray", vmin=float(img.min()), vmax=float(np.percentile(img, 99.5)) or 1.0)
            if name == "scribble" and not (v.scribble[z] != UNLABELLED).any():
                ax.text(0.5, 0.5, "no scribble", color="w", ha="center", va="center", transform=ax.transAxes)
            elif name == "scribble":
                ax.imshow(v.scribble[z], cmap=SCRIBBLE_CMAP, vmin=0, vmax=UNLABELLED, interpolation="nearest")
            elif name == "dense label" and v.label is not None:
                ax.imshow(v.label[z], cmap=LABEL_CMAP, vmin=0, vmax=3, interpolation="nearest")
            elif name == "dense label":
                ax.text(0.5, 0.5, "no dense label", color="w", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{v.case} z={z}: {name}" if name == "image" else name, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    return fig


def save_tour(out_dir: Path | str, table: pd.DataFrame, figures: Mapping[str, plt.Figure], *,
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
