"""A rerun beside the committed runs (``make reproduce``): for each method, this run's mean foreground Dice, the
committed run of the same seed, and the spread (sd, min-max) of the committed runs of that method and profile.

The numbers are each run's mean over the test volumes of the per-volume foreground-mean Dice, raw and, where the
summary has them, post-processed (``checkpoints.<name>.postprocessed``), read with
:func:`scribcim.report.results.summary_rows` as the comparison grid reads them. The CPU of a run is its training
machine's (``provenance.train.device``, else the evaluation's ``provenance.device``): ``cpu_model`` and, where
recorded, ``native_bf16``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..runs.paths import summary_paths
from .results import settings_label, summary_rows, training_device
from .tables import load_summaries
from .markdown import md_header, md_row

#: (label, post-processed?) of the Dice values compared
KINDS = (("raw", False), ("post-processed", True))
SEED_NOTE = ("A seed names one run per machine: it fixes the initial weights, the batch order and the dropout masks, "
             "but the CPU kernels round differently on different CPU models (and thread counts) and those last-bit "
             "differences grow over training, so on another kind of CPU the same seed gives another draw of the "
             "same experiment. On the CPU model of the committed run of that seed the numbers should be equal; "
             "elsewhere, compare with the committed runs' range, not with the same-seed value.")


def run_dice(summary: dict, checkpoint: str = "best", postprocessed: bool = False) -> float | None:
    """The run's mean over test volumes of the foreground-mean Dice; None without such numbers (e.g. an older
    summary without post-processed metrics)."""
    vals = np.array([r["dice"] for r in summary_rows(summary, postprocessed=postprocessed)
                     if r["checkpoint"] == checkpoint and r["structure"] == "mean"], float)
    vals = vals[np.isfinite(vals)]
    return float(vals.mean()) if vals.size else None


def cpu_of(summary: dict) -> str:
    """``cpu_model`` of the machine that trained the run, with ``native bf16: yes/no`` where recorded."""
    dev = training_device(summary)
    cpu = str(dev.get("cpu_model", "unknown CPU"))
    return cpu if dev.get("native_bf16") is None else f"{cpu} (native bf16: {'yes' if dev['native_bf16'] else 'no'})"


def committed_summaries(results_root: Path | str, dataset: str, profile: str, method: str,
                        fold: int = 1) -> list[dict]:
    """The committed runs of one method: ``<results_root>/<dataset>/<profile>/<method>/fold<k>/seed*/summary.json``
    with expert training scribbles and the method's default settings (the comparison grid's runs)."""
    out = load_summaries(summary_paths(results_root, dataset, profile, method, fold))
    return [s for s in out if s["provenance"]["config"].get("scribbles", "expert") == "expert"
            and settings_label(s["provenance"]["config"]) == ""]


def compare_run(new: dict, committed: Sequence[dict], checkpoint: str = "best") -> dict[str, Any]:
    """This run (``new``) beside the committed runs of its method: per Dice kind the committed value of its seed,
    its own, the difference, the committed runs' sd (ddof 1), min, max and number, and ``outside_by``: 0 inside
    [min, max], else the signed distance to the nearer end (negative: below); the CPU (:func:`cpu_of`) of this
    run, of the committed run of its seed, and of the committed runs (run counts)."""
    seed = new["seed"]
    same = [s for s in committed if s["seed"] == seed]
    rows = []
    for label, post in KINDS:
        value = run_dice(new, checkpoint, post)
        if value is None:
            continue
        others = {int(s["seed"]): v for s in committed if (v := run_dice(s, checkpoint, post)) is not None}
        vals = np.array(list(others.values()), float)
        ref = others.get(int(seed))
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (None, None)
        outside = 0.0 if lo is None or lo <= value <= hi else (value - lo if value < lo else value - hi)
        rows.append({"dice": label, "committed_seed": ref, "this_run": value,
                     "difference": None if ref is None else value - ref,
                     "sd": float(vals.std(ddof=1)) if vals.size > 1 else None, "min": lo, "max": hi,
                     "runs": int(vals.size), "seeds": sorted(others), "outside_by": None if lo is None else outside})
    return {"method": new["method"], "seed": int(seed), "checkpoint": checkpoint, "rows": rows, "cpu": cpu_of(new),
            "cpu_committed_seed": cpu_of(same[0]) if same else None,
            "same_cpu_model": (training_device(new).get("cpu_model") == training_device(same[0]).get("cpu_model")) if same else None,
            "cpu_committed": dict(sorted(Counter(cpu_of(s) for s in committed).items()))}


def _f(v: float | None, sign: bool = False) -> str:
    return "n/a" if v is None else (f"{v:+.4f}" if sign else f"{v:.4f}")


def verdict(rec: dict) -> str:
    """One sentence: is this run inside the committed runs' range, and by how much it is outside if not."""
    rows = [r for r in rec["rows"] if r["runs"]]
    if not rows:
        return f"{rec['method']}: no committed runs of this method and profile to compare with."
    parts = []
    for r in rows:
        where = (f"within {_f(r['min'])}-{_f(r['max'])}" if r["outside_by"] == 0 else
                 f"{abs(r['outside_by']):.4f} {'below the lowest' if r['outside_by'] < 0 else 'above the highest'} "
                 f"committed run ({_f(r['min'] if r['outside_by'] < 0 else r['max'])})")
        parts.append(f"{r['dice']} Dice {_f(r['this_run'])}, {where}")
    inside = all(r["outside_by"] == 0 for r in rows)
    n = max(r["runs"] for r in rows)
    same = [r for r in rows if r["difference"] is not None]
    tail = ""
    if same and all(r["difference"] == 0 for r in same):
        tail = f"; equal to the committed seed-{rec['seed']} run"
    elif same:
        tail = f"; differs from the committed seed-{rec['seed']} run by " + ", ".join(
            f"{_f(r['difference'], True)} {r['dice']}" for r in same)
        if rec["same_cpu_model"] is False:
            tail += " (trained on another CPU model than that run: another draw is expected)"
    return (f"{rec['method']}: {'inside' if inside else 'outside'} the range of the {n} committed run(s): "
            + "; ".join(parts) + tail + ".")


def format_comparisons(recs: Sequence[dict], source: str) -> str:
    """The table (one row per method and Dice kind), each run's CPU, one verdict per method and :data:`SEED_NOTE`."""
    seeds = sorted({r["seed"] for r in recs})
    lines = [f"This run against the committed runs ({source}); checkpoint {recs[0]['checkpoint'] if recs else 'best'};"
             " each run's mean over the test volumes of the foreground-mean Dice:", ""]
    lines += md_header(["method", "Dice", f"committed seed {','.join(map(str, seeds))}", "this run", "difference",
                        "committed sd", "committed range", "committed runs"])
    for rec in recs:
        for r in rec["rows"]:
            rng = "n/a" if r["min"] is None else f"{_f(r['min'])}-{_f(r['max'])}"
            lines.append(md_row([rec["method"], r["dice"], _f(r["committed_seed"]), _f(r["this_run"]),
                                 _f(r["difference"], True), _f(r["sd"]), rng, str(r["runs"])]))
    lines.append("")
    for rec in recs:
        lines.append(f"CPU, {rec['method']}: this run {rec['cpu']}; committed seed {rec['seed']}: "
                     f"{rec['cpu_committed_seed'] or 'no such run'}; committed runs: "
                     f"{', '.join(f'{c} ({n})' for c, n in rec['cpu_committed'].items()) or 'none'}")
    lines.append("")
    lines += [verdict(rec) for rec in recs]
    return "\n".join(lines + ["", SEED_NOTE])
