"""How much of the heart a centred millimetre window holds (the "millimetre geometry" check).

The network sees each slice through a square window of side ``window_mm`` centred on the slice centre
((h*dy/2, w*dx/2) mm from the top-left corner); every voxel outside it is predicted background, so a
heart voxel (label > 0) whose pixel centre ((i+0.5)*dy, (j+0.5)*dx) lies outside is lost. Dense labels are
used here only to measure that loss, never to train.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..data.volumes import Volume
from .markdown import md_header, md_row

log = logging.getLogger(__name__)
DATASETS = ("acdc", "mscmr")


def heart_in_window(volume: Volume, window_mm: float) -> dict[str, Any]:
    """Share of ``volume``'s heart voxels whose pixel centre lies in the centred ``window_mm`` square.

    Returns ``case``, ``fov_mm`` ([fov_y, fov_x] of a slice), ``inside_fraction``, ``all_inside``,
    ``heart_extent_mm`` (max over slices of the larger side of the heart's bounding box, whole voxels
    counted) and ``max_offset_mm`` (largest Chebyshev distance of a heart voxel centre from the slice centre).
    A volume with no heart voxel gets NaN fraction, extent and offset and ``all_inside`` True.

    Raises:
        DataError: the volume has no dense label.
    """
    if volume.label is None:
        raise DataError(f"{volume.case} has no dense label: heart_in_window needs one")
    _, dy, dx = (float(s) for s in volume.spacing)
    _, h, w = volume.label.shape
    z, i, j = np.nonzero(volume.label > 0)
    out: dict[str, Any] = {"case": volume.case, "fov_mm": [h * dy, w * dx]}
    if z.size == 0:
        log.warning("%s: no heart voxel in the label", volume.case)
        return {**out, "inside_fraction": float("nan"), "all_inside": True,
                "heart_extent_mm": float("nan"), "max_offset_mm": float("nan")}
    off_y = np.abs((i + 0.5 - h / 2) * dy)
    off_x = np.abs((j + 0.5 - w / 2) * dx)
    half = window_mm / 2
    inside = (off_y <= half) & (off_x <= half)
    extent = 0.0
    for s in np.unique(z):
        on = z == s
        ey = (i[on].max() - i[on].min() + 1) * dy
        ex = (j[on].max() - j[on].min() + 1) * dx
        extent = max(extent, float(ey), float(ex))
    return {**out, "inside_fraction": float(inside.mean()), "all_inside": bool(inside.all()),
            "heart_extent_mm": extent, "max_offset_mm": float(np.maximum(off_y, off_x).max())}


def coverage_table(volumes: Iterable[Volume], windows_mm: Sequence[float]) -> pd.DataFrame:
    """One row per (window, labelled case): ``window_mm`` and the fields of :func:`heart_in_window`."""
    rows = []
    for v in volumes:
        if v.label is None:
            log.info("%s: no dense label, skipped", v.case)
            continue
        rows += [{"window_mm": float(wm), **heart_in_window(v, wm)} for wm in windows_mm]
    cols = ["window_mm", "case", "fov_mm", "inside_fraction", "all_inside", "heart_extent_mm", "max_offset_mm"]
    return pd.DataFrame(rows, columns=cols).sort_values(["window_mm", "case"], kind="stable").reset_index(drop=True)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    """Per window: volumes, share with every heart voxel inside, min / 1st percentile / mean inside fraction."""
    rows = []
    for wm, g in df.groupby("window_mm", sort=True):
        frac = g["inside_fraction"].to_numpy(dtype=float)
        frac = frac[~np.isnan(frac)]
        rows.append({"window_mm": float(wm), "volumes": int(len(g)),
                     "all_inside_share": float(g["all_inside"].astype(bool).mean()),
                     "min_inside_fraction": float(frac.min()) if frac.size else float("nan"),
                     "p1_inside_fraction": float(np.percentile(frac, 1)) if frac.size else float("nan"),
                     "mean_inside_fraction": float(frac.mean()) if frac.size else float("nan")})
    return pd.DataFrame(rows, columns=["window_mm", "volumes", "all_inside_share", "min_inside_fraction",
                                       "p1_inside_fraction", "mean_inside_fraction"])


def summary_markdown(summary: pd.DataFrame, dataset: str) -> str:
    """The report: what is measured and the :func:`summarise` table."""
    lines = [f"# Heart coverage of centred millimetre windows ({dataset})", "",
             "Share of heart voxels (label > 0) whose pixel centre lies inside a square window of the given side, "
             "centred on the slice centre (voxels outside are predicted background). Dense labels are used only "
             "to measure this, not for training.", "",
             *md_header(["window (mm)", "volumes", "all heart inside", "min inside", "1st pct inside",
                         "mean inside"])]
    for r in summary.itertuples(index=False):
        lines.append(md_row([f"{r.window_mm:g}", str(r.volumes), f"{100 * r.all_inside_share:.1f} %",
                             f"{r.min_inside_fraction:.4f}", f"{r.p1_inside_fraction:.4f}",
                             f"{r.mean_inside_fraction:.4f}"]))
    return "\n".join(lines) + "\n"


def write_dataset(name: str, data: str | None, windows_mm: Sequence[float], out: Path) -> pd.DataFrame:
    """Measure dataset ``name`` and write ``<out>/<name>/window_coverage.{md,json}``; the summary."""
    from ..data.datasets import dataset_root, labelled_volumes
    from ..provenance import provenance
    from ..runs.log import write_json, write_text
    root = dataset_root(name, data)
    df = coverage_table(labelled_volumes(name, root), windows_mm)
    summary = summarise(df)
    folder = Path(out) / name
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / "window_coverage.md", summary_markdown(summary, name))
    params = {"windows_mm": [float(w) for w in windows_mm], "data": str(root)}
    write_json(folder / "window_coverage.json", {"summary": summary.to_dict("records"),
                                                 "cases": df.to_dict("records"),
                                                 "provenance": provenance(params, device="cpu", dataset=name)})
    log.info("%s: %d volumes measured, written to %s", name, df["case"].nunique(), folder)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.report.window``: heart coverage of centred mm windows on ACDC and MSCMR."""
    p = argparse.ArgumentParser(prog="python -m scribcim.report.window", description=main.__doc__)
    p.add_argument("--data", default=None, help="data root (default: $SCRIBCIM_DATA, else ./data)")
    p.add_argument("--windows", type=float, nargs="+", default=[192.0, 224.0, 256.0], help="window sides (mm)")
    p.add_argument("--out", default="results", help="output folder (default: %(default)s)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help="datasets (default: acdc mscmr)")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in ns.datasets:
        write_dataset(name, ns.data, ns.windows, Path(ns.out))
        print((Path(ns.out) / name / "window_coverage.md").read_text())


if __name__ == "__main__":
    main()
