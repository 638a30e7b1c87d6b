"""What a run's far-field false positives are: the islands it predicts apart from the heart, on its test volumes.

An *island* is a 3D connected component (26-connectivity, as :mod:`scribcim.evaluate.postprocess`) of the predicted
foreground other than the largest one (the one ``largest_fg`` keeps). Each is described by its class (majority
vote), its volume, how far it lies from the reference heart (dense labels, used only to measure), and whether that is
farther than any background scribble of the same volume reaches: an island beyond the scribbled background sits
where no training volume's scribbles say "background" at that distance either.

``python -m scribcim.analysis.islands RUN [RUN ...]`` writes ``<out>.{md,json}`` and ``<out>.png``.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage

from ..data import load_volumes
from ..data.frame import frame_of
from ..data.normalise import normalise_volumes
from ..data.volumes import Volume
from ..errors import DataError
from ..evaluate.inference import predict_labels
from ..evaluate.postprocess import COMPONENTS
from ..evaluate.metrics import CLASS_NAMES
from ..progress import progress_bar
from ..provenance import provenance, repo_relative
from ..runs.info import read_run_info
from ..runs.load import load_model, load_run_config
from ..runs.log import write_json
from ..runs.paths import data_root_for

log = logging.getLogger(__name__)
#: the value of an unlabelled scribble voxel and of a background scribble (WSL4MIS layout)
UNLABELLED, BACKGROUND = 4, 0


def islands(pred: np.ndarray, label: np.ndarray, spacing: Sequence[float], scribble: np.ndarray | None = None
            ) -> list[dict]:
    """The islands of ``pred`` (z, y, x labels): per island its class, voxels, volume (ml), distance (mm) of its
    nearest voxel from the reference heart (0 if it touches it), and ``beyond_scribbles``: farther than every
    background scribble voxel of ``scribble`` lies from the heart (None without scribbles)."""
    lab, n = ndimage.label(pred > 0, structure=COMPONENTS)
    if n < 2:
        return []
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    keep = int(np.argmax(sizes)) + 1
    heart = label > 0
    dist = ndimage.distance_transform_edt(~heart, sampling=spacing) if heart.any() else np.full(pred.shape, np.nan)
    reach = None
    if scribble is not None and (scribble == BACKGROUND).any():
        reach = float(dist[scribble == BACKGROUND].max())
    ml = float(np.prod(spacing)) / 1000.0
    out = []
    for k in range(1, n + 1):
        if k == keep:
            continue
        comp = lab == k
        classes = np.bincount(pred[comp], minlength=len(CLASS_NAMES) + 1)[1:]
        d = float(dist[comp].min())
        zs = np.flatnonzero(comp.any(axis=(1, 2)))
        out.append({"class": CLASS_NAMES[int(np.argmax(classes))], "voxels": int(sizes[k - 1]),
                    "ml": float(sizes[k - 1] * ml), "distance_mm": d, "slices": [int(zs.min()), int(zs.max())],
                    "z_heart": _z_heart(comp, heart), "largest_slice": int(np.argmax(comp.sum(axis=(1, 2)))),
                    "scribble_reach_mm": reach, "beyond_scribbles": None if reach is None else bool(d > reach)})
    return out


def _z_heart(comp: np.ndarray, heart: np.ndarray) -> float | None:
    """Where the island's voxels sit along the heart's slices: 0 at the reference heart's first slice (the base in
    ACDC's ordering), 1 at its last (the apex); below 0 or above 1 outside the heart's slices."""
    hz = np.flatnonzero(heart.any(axis=(1, 2)))
    if hz.size == 0:
        return None
    z = float(np.average(np.arange(comp.shape[0]), weights=comp.sum(axis=(1, 2))))
    return (z - hz.min()) / max(int(hz.max() - hz.min()), 1)


def predictions(run_dir: Path | str, *, cases: Sequence[str] | None = None, checkpoint: str = "best",
                data_root: str | None = None, device: str = "cpu", progress: bool = True
                ) -> Iterator[tuple[Any, Volume, np.ndarray]]:
    """(config, test volume, raw predicted labels) of a trained run, volume by volume (``cases``: only those)."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if data_root is not None:
        config.data_root = data_root
    info = read_run_info(run_dir, config)
    volumes = normalise_volumes(load_volumes(config.dataset, "test", fold=config.fold, data_root=data_root_for(config),
                                             val_patients=config.val_patients), info["normalisation"])
    if cases is not None:
        volumes = [v for v in volumes if v.case in set(cases)]
    model, _ = load_model(run_dir, checkpoint, device)
    frame = frame_of(config)
    for v in progress_bar(volumes, desc=f"{config.method} seed {config.seed}", enabled=progress):
        yield config, v, predict_labels(model, v.image, frame=frame, spacing_yx=v.spacing[1:], device=device)


def run_islands(run_dir: Path | str, **kwargs: Any) -> list[dict]:
    """:func:`islands` of a trained run's raw test predictions (:func:`predictions`, same keywords), one dict per
    island with the run's method, seed and the case."""
    return [{"method": config.method, "seed": config.seed, "case": v.case, **i}
            for config, v, pred in predictions(run_dir, **kwargs)
            for i in islands(pred, v.label, v.spacing, v.scribble)]


def examples(run_dir: Path | str, cases: Sequence[str], **kwargs: Any) -> list[dict]:
    """Per case, the slice holding most voxels of the run's largest island: image, raw prediction, reference."""
    out = []
    for config, v, pred in predictions(run_dir, cases=cases, **kwargs):
        found = islands(pred, v.label, v.spacing)
        if found:
            z = max(found, key=lambda i: i["voxels"])["largest_slice"]
            out.append({"case": v.case, "method": config.method, "seed": config.seed, "slice": z,
                        "image": v.image[z], "pred": pred[z], "label": v.label[z]})
    return out


def island_table(rows: Sequence[dict], min_ml: float = 0.0) -> pd.DataFrame:
    """Per method and class: islands (of at least ``min_ml``), the case-runs holding them, their median volume and
    distance from the heart, the share on the basal third of the heart's slices or above it, and the share beyond
    the volume's background scribbles."""
    cols = ["method", "class", "islands", "case_runs", "ml_median", "distance_median", "basal_share", "beyond_share"]
    d = pd.DataFrame(rows)
    if d.empty:
        return pd.DataFrame(columns=cols)
    d = d[d.ml >= min_ml]
    d = d.assign(basal=pd.to_numeric(d.z_heart) < 1 / 3, case_run=d.case + "/" + d.seed.astype(str))
    g = d.groupby(["method", "class"])
    return pd.concat([g.size().rename("islands"), g.case_run.nunique().rename("case_runs"),
                      g.ml.median().rename("ml_median"), g.distance_mm.median().rename("distance_median"),
                      g.basal.mean().rename("basal_share"), g.beyond_scribbles.mean().rename("beyond_share")],
                     axis=1).reset_index()[cols]


def run_summary(run_dir: Path | str) -> dict:
    """The run's ``summary.json`` (a clear error if the run was not evaluated)."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise DataError(f"{path} is missing: evaluate the run first (`scribcim evaluate --run {run_dir}`)")
    return json.loads(path.read_text())


def raw_hd95(summary: dict, checkpoint: str = "best") -> pd.DataFrame:
    """(method, seed, case, hd95): the raw HD95 (mean over classes) of each test case of a run's summary."""
    return pd.DataFrame([{"method": summary["method"], "seed": summary["seed"], "case": c["case"],
                          "hd95": c["foreground_mean"]["hd95"]} for c in summary["checkpoints"][checkpoint]["cases"]])


def split_table(rows: Sequence[dict], hd95: pd.DataFrame, threshold: float = 20.0, min_ml: float = 0.0
                ) -> pd.DataFrame:
    """Per method, case-runs with raw HD95 above ``threshold`` (``far``) against the rest: how many, and the medians
    over case-runs of their islands (>= ``min_ml``), total island volume and farthest island."""
    d = pd.DataFrame(rows, columns=["method", "seed", "case", "ml", "distance_mm"])
    d = d[d.ml >= min_ml]
    per = d.groupby(["method", "seed", "case"]).agg(islands=("ml", "size"), ml_total=("ml", "sum"),
                                                    farthest_mm=("distance_mm", "max")).reset_index()
    cr = hd95.merge(per, on=["method", "seed", "case"], how="left").fillna({"islands": 0, "ml_total": 0.0})
    cr["far"] = cr.hd95 > threshold
    g = cr.groupby(["method", "far"])
    return pd.concat([g.size().rename("case_runs"), g.islands.median().rename("islands_median"),
                      g.ml_total.median().rename("ml_total_median"), g.farthest_mm.median().rename("farthest_median")],
                     axis=1).reset_index()


def split_markdown(split: pd.DataFrame, threshold: float) -> list[str]:
    """The split table's markdown lines."""
    from ..report.markdown import md_header, md_row
    md = [f"Case-runs with raw HD95 (mean over classes) above {threshold:g} mm against the rest: medians over "
          "case-runs of the islands they hold, their total volume and the distance of the farthest one.", "",
          *md_header(["method", f"HD95 > {threshold:g} mm", "case-runs", "islands", "total ml", "farthest (mm)"])]
    for r in split.itertuples(index=False):
        md.append(md_row([r.method, "yes" if r.far else "no", str(r.case_runs), f"{r.islands_median:.0f}",
                          f"{r.ml_total_median:.1f}", f"{r.farthest_median:.0f}"]))
    return md


def islands_markdown(table: pd.DataFrame, runs: int, min_ml: float) -> list[str]:
    """The table's markdown lines with the sentence that says what it counts."""
    from ..report.markdown import md_header, md_row
    md = [f"Islands (3D components of the predicted foreground other than the largest, >= {min_ml:g} ml) of {runs} "
          "runs on their test volumes: the case-runs holding them, median volume, median distance of the nearest "
          "voxel from the reference heart, the share centred on the basal third of the heart's slices or above it, "
          "and the share farther from the heart than every background scribble of the same volume.", "",
          *md_header(["method", "class", "islands", "case-runs", "median ml", "median distance (mm)",
                      "basal third or above", "beyond the scribbles"])]
    for r in table.itertuples(index=False):
        md.append(md_row([r.method, r[1], str(r.islands), str(r.case_runs), f"{r.ml_median:.2f}",
                          f"{r.distance_median:.0f}", f"{r.basal_share:.0%}", f"{r.beyond_share:.0%}"]))
    return md


def _one_per_patient(cases: Sequence[str]) -> list[str]:
    """``cases`` in order, keeping the first case of each patient (the name before ``_frame``)."""
    seen, out = set(), []
    for c in cases:
        if c.split("_frame")[0] not in seen:
            seen.add(c.split("_frame")[0])
            out.append(c)
    return out


def runs_parser(module: str, description: str | None, rows: str, figure: str) -> argparse.ArgumentParser:
    """The command line of an analysis of trained runs: run folders, ``--out`` stem (``rows``: what one CSV row is),
    ``--figure`` (``figure``: what it draws) and ``--data``."""
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    p.add_argument("runs", nargs="+", help="run folders (runs/<dataset>/<profile>/<method>/fold<k>/seed<s>)")
    p.add_argument("--out", required=True, help=f"output stem: writes <out>.md, <out>.json and <out>.csv (one row "
                   f"per {rows})")
    p.add_argument("--figure", help=f"also draw {figure} here (PNG)")
    p.add_argument("--data", default=None, help="data root (else $SCRIBCIM_DATA, else ./data)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.analysis.islands RUN [RUN ...] --out STEM``: the islands of trained runs."""
    from ..viz.common import save_figure
    from ..viz.far_field import plot_islands
    p = runs_parser("scribcim.analysis.islands", main.__doc__, "island", "the first run's largest islands")
    p.add_argument("--examples", type=int, default=4, help="cases in the figure (default 4)")
    p.add_argument("--cases", nargs="*", help="only these test volumes (default: all)")
    p.add_argument("--min-ml", type=float, default=0.1, help="islands smaller than this (ml) are left out of the table")
    p.add_argument("--threshold", type=float, default=20.0, help="raw HD95 (mm) that splits the case-runs")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    summaries = [run_summary(r) for r in ns.runs]  # read once, before any prediction: an unevaluated run stops here
    rows = [r for run in ns.runs for r in run_islands(run, cases=ns.cases, data_root=ns.data)]
    table = island_table(rows, ns.min_ml)
    split = split_table(rows, pd.concat([raw_hd95(x) for x in summaries]), ns.threshold, ns.min_ml)
    md = islands_markdown(table, len(ns.runs), ns.min_ml) + [""] + split_markdown(split, ns.threshold)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    prov = provenance({"runs": [repo_relative(Path(r)) for r in ns.runs], "cases": ns.cases, "min_ml": ns.min_ml,
                       "threshold_mm": ns.threshold},
                      device="cpu", dataset=load_run_config(Path(ns.runs[0])).dataset)  # before any write
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    from ..report.comparison import training_commits
    trained = training_commits(summaries)
    flat = pd.DataFrame([{**{k: v for k, v in r.items() if k != "slices"}, "first_slice": r["slices"][0],
                          "last_slice": r["slices"][1]} for r in rows])
    out.with_suffix(".csv").write_text(flat.to_csv(index=False, float_format="%.4g"))  # one row per island
    write_json(out.with_suffix(".json"), {"table": table.to_dict("records"), "split": split.to_dict("records"),
                                          "islands_csv": out.with_suffix(".csv").name, "islands": len(rows),
                                          "training_commits": trained, "provenance": prov})
    if ns.figure:
        first = [r for r in rows if (r["method"], r["seed"]) == (rows[0]["method"], rows[0]["seed"])] if rows else []
        by_case = pd.DataFrame(first).groupby("case").ml.sum().sort_values(ascending=False) if first else None
        cases = [] if by_case is None else _one_per_patient(by_case.index)[: ns.examples]
        if cases:
            save_figure(plot_islands(examples(ns.runs[0], cases, data_root=ns.data)), Path(ns.figure), prov)
    print("\n".join(md))


if __name__ == "__main__":
    main()
