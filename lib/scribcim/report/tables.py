"""Side-by-side tables of summaries (markdown), for the terminal and for ``results/``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..evaluate.metrics import CLASS_NAMES
from .markdown import fmt_mean_std, md_header, md_row


def fmt_stat(stat: dict[str, Any], scale: float = 1.0, digits: int = 3) -> str:
    """A summary statistic (``{"mean", "std"}``) as ``mean ± std`` times ``scale``; n/a without a mean."""
    mean, std = stat.get("mean"), stat.get("std")
    return "n/a" if mean is None else fmt_mean_std(mean * scale, std * scale, digits)


def comparison_table(summaries: Sequence[dict[str, Any]], checkpoint: str = "best", post: bool = False) -> str:
    """Markdown table: one row per summary, Dice and HD95 (mm) per class and their foreground mean, the ASD and
    ASSD foreground means (n/a in summaries made before ASSD was recorded) and the missed structures.
    ``post``: the post-processed metrics (``checkpoints.<name>.postprocessed``) instead of the raw ones."""
    head = ["method", "ckpt", "iter"] + [f"Dice {c}" for c in CLASS_NAMES] + ["Dice mean"] + \
        [f"HD95 {c}" for c in CLASS_NAMES] + ["HD95 mean", "ASD mean", "ASSD mean", "missed"]
    lines = md_header(head)
    for s in summaries:
        r = s["checkpoints"][checkpoint]
        r = {**r["postprocessed"], "iteration": r["iteration"]} if post else r
        cls = r["classes"]
        empties = sum(cls[c]["empty_predictions"] for c in CLASS_NAMES)
        row = [s["method"], checkpoint, str(r["iteration"])]
        row += [fmt_stat(cls[c]["dice"]) for c in CLASS_NAMES] + [fmt_stat(r["foreground_mean"]["dice"])]
        row += [fmt_stat(cls[c]["hd95"], digits=1) + (f" ({k} missed)" if (k := cls[c]["empty_predictions"]) else "")
                for c in CLASS_NAMES]
        row += [fmt_stat(r["foreground_mean"].get(m, {}), digits=1) for m in ("hd95", "asd", "assd")]
        row.append(str(empties))
        lines.append(md_row(row))
    return "\n".join(lines)


def load_summaries(paths: Sequence[Path | str]) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text()) for p in paths]


def full_report(summaries: Sequence[dict[str, Any]]) -> str:
    """Tables for every checkpoint present in all summaries, with the test-set description."""
    s0 = summaries[0]
    out = [f"{s0['dataset'].upper()} fold {s0['fold']}, profile `{s0['profile']}`, "
           f"{s0['checkpoints'][next(iter(s0['checkpoints']))]['num_cases']} {s0['part']} volumes; "
           "mean ± std over volumes; HD95, ASD and ASSD in mm. ASD is medpy's `asd(pred, gt)`, the mean distance "
           "from the prediction's surface to the ground truth's (one direction); ASSD pools both directions. "
           "`missed`: structures present in the ground truth and predicted empty (Dice 0), left out of the "
           "distance means unless the run set `--empty-penalty`."]
    for ck in ("best", "last"):
        if all(ck in s["checkpoints"] for s in summaries):
            label = "best on validation" if ck == "best" else "last iteration"
            out += ["", f"Checkpoint: {label}", "", comparison_table(summaries, ck)]
            if all("postprocessed" in s["checkpoints"][ck] for s in summaries):
                chosen = ", ".join(f"{s['method']} {s['checkpoints'][ck]['postprocessing']['choice']}"
                                   for s in summaries)
                out += ["", f"Checkpoint: {label}, post-processed as each run chose on its validation patients "
                        f"({chosen})", "", comparison_table(summaries, ck, post=True)]
    return "\n".join(out)
