"""The docs block of where the errors lie (``<!-- error-bands <dataset>_<profile> -->``), rendered from
``results/tables/<dataset>_<profile>_error_bands.json`` (:mod:`scribcim.analysis.error_bands`, ``make error-bands``).

Per method and class, against the record's reference method (``full``): the extra error volume raw and
post-processed, the part of it within 5 mm of the reference boundary, and the largest extra confusion (a class
predicted where the reference says another label), each a seed-paired mean with its 95 % t-interval.
"""
from __future__ import annotations

import numpy as np

from ..training.methods import paper_order
from .markdown import fmt_paired, md_header, md_row, num

#: the confusion columns of the record (``fp on <label>``, ``fn as <label>``) in words, per class ``{c}``
WORDS = {"fp on": "`{c}` predicted where the reference says `{o}`", "fn as": "`{c}` of the reference predicted `{o}`"}


def _confusion(diffs: dict, method: str, cls: str) -> str:
    """The confusion column with the largest mean extra volume, in words with its paired difference."""
    found = [d for (m, c, col), d in diffs.items() if (m, c) == (method, cls) and col.rsplit(" ", 1)[0] in WORDS]
    if not found:
        return "-"
    top = max(found, key=lambda d: num(d["mean"]) if np.isfinite(num(d["mean"])) else -np.inf)
    kind, other = top["column"].rsplit(" ", 1)
    return f"{WORDS[kind].format(c=cls, o=other)}: {fmt_paired(top, 2)}"


def error_bands_block(record: dict) -> str:
    """The markdown between the page's ``error-bands`` markers (ends with a newline)."""
    against = record["against"]
    diffs = {w: {(d["method"], d["class"], d["column"]): d for d in record["differences"] if d["what"] == w}
             for w in ("raw", "post")}
    methods = paper_order({m for m, _, _ in diffs["raw"]} | {m for m, _, _ in diffs["post"]})
    classes = [c for c in ("RV", "MYO", "LV") if any(k[1] == c for k in diffs["raw"])]
    lines = [f"Each method's extra error against `{against}` (the same network and geometry, dense labels) on the "
             f"{record['dataset'].upper()} test volumes, `{record['checkpoint']}` checkpoint: ml per test volume, "
             "FP and FN of the class together, paired by seed: mean [95 % t-interval]; the part within 5 mm of the "
             "reference boundary, and the largest extra confusion, post-processed.", "",
             *md_header(["method", "class", "extra error, raw", "extra error, post", "within 5 mm, post",
                         "largest extra confusion, post"])]
    for m in methods:
        for c in classes:
            lines.append(md_row([f"`{m}`", c, fmt_paired(diffs["raw"].get((m, c, "error")), 2),
                                 fmt_paired(diffs["post"].get((m, c, "error")), 2),
                                 fmt_paired(diffs["post"].get((m, c, "all <= 5 mm")), 2),
                                 _confusion(diffs["post"], m, c)]))
    commits = ", ".join(c[:7] for c in record.get("training_commits", [])) or "-"
    profiles = ", ".join(f"`{p}`" for p in record.get("profiles", []))
    stem = record["stem"]
    lines += ["", f"From `results/tables/{stem}.json` (`make error-bands`; {profiles}, trained at {commits}; "
              f"{record['cases']} test volumes; each case's Dice from these counts against its summary: largest "
              f"difference {num(record['dice_check']):.1g}; every band and confusion: `results/tables/{stem}.md`)."]
    return "\n".join(lines) + "\n"
