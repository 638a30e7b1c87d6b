"""How class-pure CIM's banks can be under a matching grid and sampling rule, measured on training batches.

Which cells enter a bank depends only on the scribbles, the grid and the rule, and a bank holds the
last M entries; so the purity of a trained model's banks can be measured without training by
streaming the run's own training batches (same augmentation, same seed) through the sampling rule
and keeping the last M entries per class. :func:`survey` does that for several settings; a trained
checkpoint's ``bank_purity`` (written by ``evaluate``) is the same measure on its real banks.

``python -m scribcim.analysis.purity`` writes ``results/acdc/bank_purity_survey.{md,json}``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

import torch

from ..config import make_config
from ..data import load_volumes
from ..data.slices import SliceSet, make_batch
from ..models.reference import bank_purity, cell_info, scribble_mask
from ..evaluate.metrics import CLASS_NAMES
from ..provenance import provenance
from ..report.markdown import md_header, md_row
from ..runs.log import write_json
from ..runs.paths import data_root_for

log = logging.getLogger(__name__)
#: (name, input size, matching-grid stride in pixels, sampling rule[, mm per pixel: the millimetre view])
SETTINGS = (("quick: 128 px, 1/16, any", 128, 16, "any"), ("128 px, 1/16, majority", 128, 16, "majority"),
            ("128 px, 1/8, any", 128, 8, "any"), ("cpu profiles: 128 px, 1/8, majority", 128, 8, "majority"),
            ("paper grid: 256 px, 1/16, any", 256, 16, "any"), ("256 px, 1/16, majority", 256, 16, "majority"),
            *((f"{mm:g} mm x 128 px, 1/{stride}, {rule}", 128, stride, rule, mm)
              for mm in (2.0, 1.75) for stride in (16, 8) for rule in ("any", "majority")),
            ("1 mm x 256 px, 1/16, majority", 256, 16, "majority", 1.0))


def bank_after(slices: SliceSet, *, size: int, stride: int, rule: str, batches: int, batch_size: int,
               seed: int, bank_size: int = 1000, num_classes: int = 4, pixel_mm: float | None = None
               ) -> tuple[torch.Tensor, dict[int, float]]:
    """The ``bank_cell`` buffer (C, M, 2) after ``batches`` training batches, and entries per step per class."""
    grid = (size // stride, size // stride)
    cells: dict[int, list[torch.Tensor]] = {c: [] for c in range(num_classes)}
    for it in range(batches):
        b = make_batch(slices, batch_size=batch_size, size=(size, size), seed=seed, iteration=it, pixel_mm=pixel_mm)
        mask = scribble_mask(b["scribble"], grid, num_classes, rule)
        info = cell_info(mask, b["label"], num_classes)
        for c in range(num_classes):
            cells[c].append(info[mask[:, c]])
    bank = torch.full((num_classes, bank_size, 2), -1, dtype=torch.long)
    for c in range(num_classes):
        last = torch.cat(cells[c])[-bank_size:]
        bank[c, : len(last)] = last
    return bank, {c: sum(len(x) for x in v) / batches for c, v in cells.items()}


def survey(data_root: str | None = None, *, fold: int = 1, batches: int = 300, batch_size: int = 8,
           seed: int = 2022, settings: Sequence[tuple] = SETTINGS) -> list[dict]:
    """Purity and sharing per class for each setting, on ACDC fold ``fold``'s training patients."""
    cfg = make_config("quick", data_root=data_root, fold=fold)
    slices = SliceSet.from_volumes(load_volumes("acdc", "train", fold=fold, data_root=data_root_for(cfg),
                                                val_patients=cfg.val_patients))
    rows = []
    for name, size, stride, rule, *mm in settings:
        pixel_mm = mm[0] if mm else None
        bank, per_step = bank_after(slices, size=size, stride=stride, rule=rule, batches=batches,
                                    batch_size=batch_size, seed=seed, pixel_mm=pixel_mm)
        purity, shared = bank_purity(bank)
        rows.append({"setting": name, "input_size": size, "pixel_mm": pixel_mm, "stride": stride, "sampling": rule,
                     "purity": purity,
                     "shared": shared, "entries_per_step": {k: round(v, 1) for k, v in per_step.items()}})
        log.info("%s: purity %s shared %s", name, purity, shared)
    return rows


def survey_markdown(rows: Sequence[dict]) -> str:
    lines = md_header(["setting", "purity RV", "MYO", "LV", "shared RV", "MYO", "LV", "new RV/MYO/LV entries per step"])
    for r in rows:
        p, s, e = r["purity"], r["shared"], r["entries_per_step"]
        lines.append(md_row([r["setting"], *(f"{p[k]:.2f}" for k in CLASS_NAMES), *(f"{s[k]:.2f}" for k in CLASS_NAMES),
                             f"{e[1]} / {e[2]} / {e[3]}"]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m scribcim.analysis.purity``: bank purity of each matching setting on ACDC training batches."""
    p = argparse.ArgumentParser(prog="python -m scribcim.analysis.purity", description=main.__doc__)
    p.add_argument("--data-root", default=None, help="data root (default: $SCRIBCIM_DATA, else ./data)")
    p.add_argument("--batches", type=int, default=300, help="training batches streamed (default: 300)")
    p.add_argument("--out", default="results/acdc", help="output folder (default: results/acdc)")
    ns = p.parse_args(argv)
    prov = provenance({"batches": ns.batches}, device="cpu", dataset="acdc")  # before writing: a clean tree
    rows = survey(ns.data_root, batches=ns.batches)
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    md = survey_markdown(rows)
    (out / "bank_purity_survey.md").write_text(
        f"Bank purity on ACDC fold-1 training batches (batch 8, seed 2022, {ns.batches} batches, M = 1000; "
        "`python -m scribcim.analysis.purity`)\n\n" + md + "\n")
    write_json(out / "bank_purity_survey.json", {"rows": rows, "batches": ns.batches,
                                                 "provenance": prov})
    print(md)


if __name__ == "__main__":
    main()
