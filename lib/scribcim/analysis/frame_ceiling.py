"""What an input geometry costs before any learning: the scores of a perfect prediction in the model's frame.

A network sees each slice through its profile's :class:`scribcim.data.frame.Frame` (the whole slice resized to
``input_size``, or a window of ``input_size`` pixels of ``pixel_mm`` mm centred on the slice) and its softmax is
mapped back to the scan's grid (:func:`scribcim.evaluate.inference.predict_volume`). The *oracle* here is a
"network" that is always right in that frame: fed the reference labels mapped into the frame (nearest, as training
maps labels), it outputs them one-hot; mapped back and scored exactly as ``evaluate`` scores a run
(:func:`scribcim.evaluate.summary.score_case`), it gives the best Dice and HD95 that geometry allows: what the
resampling to the model's pixels and back, and (for a window) the heart outside it, cost every method alike.

``python -m scribcim.analysis.frame_ceiling`` (``make frame-ceiling``) writes
``results/tables/<dataset>_frame_ceiling.{md,json}`` for the test volumes of a fold, one row per geometry.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import make_config
from ..config.profiles import PROFILES
from ..data import load_volumes
from ..data.frame import Frame, frame_of
from ..evaluate.inference import predict_labels
from ..evaluate.metrics import CLASS_NAMES
from ..evaluate.summary import aggregate, score_case
from ..progress import progress_bar

log = logging.getLogger(__name__)
#: the geometries compared by default: this project's two CPU views, the released 256 px whole slice, and the
#: millimetre view at 256 px
PROFILES_COMPARED = ("cpu-lr03", "cpu-mm175", "paper", "gpu10k-mm")


class Oracle(nn.Module):
    """A stand-in network whose input is a label map in the model frame: it returns that map as (scaled) one-hot
    logits, so its softmax is the frame's labels, right at every model pixel."""

    def __init__(self, classes: int = len(CLASS_NAMES) + 1) -> None:
        super().__init__()
        self.classes = classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        labels = x[:, 0].round().long().clamp(0, self.classes - 1)
        return 30.0 * F.one_hot(labels, self.classes).permute(0, 3, 1, 2).float(), None


def frame_of_profile(profile: str) -> Frame:
    """The :class:`Frame` a profile trains in (:func:`scribcim.data.frame.frame_of` of its config)."""
    return frame_of(make_config(profile))


def ceiling_cases(volumes: Sequence[Any], frame: Frame, *, progress: bool = False) -> list[dict]:
    """Per volume, :func:`scribcim.evaluate.summary.score_case` of the oracle's prediction through ``frame``."""
    oracle = Oracle().eval()
    out = []
    for v in progress_bar(volumes, enabled=progress, desc=f"frame {frame.size} px, {frame.pixel_mm or 'whole'}"):
        pred = predict_labels(oracle, v.label.astype(np.float32), frame=frame, spacing_yx=v.spacing[1:])
        out.append(score_case(v.case, pred, v.label, v.spacing))
    return out


def ceiling_row(profile: str, cases: list[dict]) -> dict:
    """One geometry's row: its frame and the oracle's mean ± sd over volumes of Dice per class and mean, HD95."""
    frame, agg = frame_of_profile(profile), aggregate(cases)
    row: dict[str, Any] = {"profile": profile, "input_size": frame.size, "pixel_mm": frame.pixel_mm,
                           "window_mm": frame.window_mm, "volumes": agg["num_cases"]}
    for name in CLASS_NAMES:
        row[f"dice {name}"] = agg["classes"][name]["dice"]
    row["dice mean"] = agg["foreground_mean"]["dice"]
    row["hd95 mean"] = agg["foreground_mean"]["hd95"]
    return row


def ceiling_markdown(rows: Sequence[dict], dataset: str, part: str, fold: int) -> list[str]:
    """The table: one row per geometry, Dice and HD95 of the oracle (mean ± sd over volumes)."""
    from ..report.markdown import fmt_mean_std, md_header, md_row
    md = [f"The best a network can score in each input geometry: the reference labels of the {dataset.upper()} "
          f"{part} volumes of fold {fold} mapped into the model's frame and back, scored as `evaluate` scores a run "
          "(mean ± sd over volumes; HD95 in mm, mean over classes).", "",
          *md_header(["profile", "geometry", "volumes", *(f"Dice {c}" for c in CLASS_NAMES), "Dice mean",
                      "HD95 mean (mm)"])]
    for r in rows:
        geometry = (f"{r['input_size']} px, whole slice" if r["pixel_mm"] is None else
                    f"{r['input_size']} px at {r['pixel_mm']:g} mm ({r['window_mm']:g} mm window)")
        md.append(md_row([f"`{r['profile']}`", geometry, str(r["volumes"]),
                          *(fmt_mean_std(r[f"dice {c}"]["mean"], r[f"dice {c}"]["std"], 4) for c in CLASS_NAMES),
                          fmt_mean_std(r["dice mean"]["mean"], r["dice mean"]["std"], 4),
                          fmt_mean_std(r["hd95 mean"]["mean"], r["hd95 mean"]["std"], 2)]))
    return md


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.analysis.frame_ceiling``: the oracle's scores per input geometry."""
    from ..provenance import provenance
    from ..runs.log import write_json_if_changed, write_text_if_changed
    p = argparse.ArgumentParser(prog="python -m scribcim.analysis.frame_ceiling", description=main.__doc__)
    p.add_argument("--dataset", default="acdc", help="dataset (default: acdc)")
    p.add_argument("--fold", type=int, default=1, help="fold (default: 1)")
    p.add_argument("--part", default="test", choices=("train", "val", "test"), help="volumes (default: test)")
    p.add_argument("--profiles", nargs="+", default=list(PROFILES_COMPARED), choices=sorted(PROFILES),
                   help=f"the geometries, by profile (default: {' '.join(PROFILES_COMPARED)})")
    p.add_argument("--tables", default="results/tables", help="where the table goes (default: results/tables)")
    p.add_argument("--data", default=None, help="data root (else $SCRIBCIM_DATA, else ./data)")
    ns = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    volumes = [v for v in load_volumes(ns.dataset, ns.part, fold=ns.fold, data_root=ns.data) if v.label is not None]
    rows = [ceiling_row(pr, ceiling_cases(volumes, frame_of_profile(pr), progress=True)) for pr in ns.profiles]
    md = ceiling_markdown(rows, ns.dataset, ns.part, ns.fold)
    out = Path(ns.tables) / f"{ns.dataset}_frame_ceiling"
    out.parent.mkdir(parents=True, exist_ok=True)
    # provenance before any write (its own outputs would mark the tree dirty); a rerun that measures the same
    # leaves the committed files (and the commit their provenance names) alone
    prov = provenance({"fold": ns.fold, "part": ns.part, "profiles": ns.profiles}, device="cpu", dataset=ns.dataset)
    write_text_if_changed(out.with_suffix(".md"), "\n".join(md) + "\n")
    write_json_if_changed(out.with_suffix(".json"), {"dataset": ns.dataset, "fold": ns.fold, "part": ns.part,
                                                     "rows": rows, "provenance": prov})
    print("\n".join(md))


if __name__ == "__main__":
    main()
