"""The budget study's README block (``<!-- budget <dataset> -->``), rendered from ``results/tables/<dataset>_budget.json``.

Three parts, raw first and post-processed beside: per method the runs and the mean ± sd across seeds of test Dice
and HD95 at both budgets; the study's seed-paired differences at each budget and their change from the short budget
to the long one (paired by seed, 95 % t-intervals); the long budget's targets in one line each (held, missed with the
measured figure, or not measured yet). :mod:`scribcim.report.budget` writes the record (``make budget``);
:mod:`scribcim.report.doc_blocks` puts the block on the page.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..training.methods import paper_order
from .climbing import climbing_line
from .markdown import fmt_mean_std, fmt_paired, md_header, md_row, num

RAW, POST = "raw", "post"


def _label(record: dict, profile: str) -> str:
    """``profile`` (N it.) from the record's iterations per profile."""
    its = record.get("iterations", {}).get(profile)
    return f"`{profile}`" + (f" ({'/'.join(str(i) for i in its)} it.)" if its else "")


def _means(record: dict, what: str, profile: str) -> dict[str, dict]:
    """The foreground-mean table rows of one profile by method ({} when the profile has no runs)."""
    part = record[what]["per_profile"].get(profile)
    return {} if part is None else {r["method"]: r for r in part["table"] if r["structure"] == "mean"}


def _cell(row: dict | None, metric: str, digits: int) -> str:
    return "-" if row is None else fmt_mean_std(num(row.get(f"{metric}_mean")), num(row.get(f"{metric}_std")), digits)


def methods_table(record: dict) -> list[str]:
    """Per method: runs at each budget, Dice at both budgets (raw), Dice post-processed and HD95 at the long one."""
    long, short = record["long"], record["short"]
    rows = {(w, p): _means(record, w, p) for w in (RAW, POST) for p in (long, short)}
    methods = paper_order(set(rows[RAW, long]) | set(rows[RAW, short]))
    lines = md_header(["method", f"runs at `{short}` / `{long}`", f"Dice at `{short}`", f"Dice at `{long}`",
                       f"Dice at `{long}`, post", f"HD95 at `{long}` (mm)", f"HD95 at `{long}`, post (mm)"])
    for m in methods:
        runs = "/".join(str((rows[RAW, p].get(m) or {}).get("runs", 0)) for p in (short, long))
        lines.append(md_row([f"`{m}`" + (" (dense labels)" if m == "full" else ""), runs,
                             _cell(rows[RAW, short].get(m), "dice", 3), _cell(rows[RAW, long].get(m), "dice", 3),
                             _cell(rows[POST, long].get(m), "dice", 3), _cell(rows[RAW, long].get(m), "hd95", 1),
                             _cell(rows[POST, long].get(m), "hd95", 1)]))
    return lines


def differences_table(record: dict) -> list[str]:
    """Per contrast (mean Dice): the difference at each budget, its change long − short, and post-processed at the
    long budget."""
    long, short = record["long"], record["short"]

    def diffs(what: str, profile: str) -> dict:
        part = record[what]["per_profile"].get(profile) or {"differences": []}
        return {(d["a"], d["b"]): d for d in part["differences"] if d["metric"] == "dice" and d["structure"] == "mean"}

    at = {(w, p): diffs(w, p) for w in (RAW, POST) for p in (long, short)}
    changes = {(c["a"], c["b"]): c for c in record[RAW]["changes"] if c["metric"] == "dice"}
    pairs = list(dict.fromkeys([*at[RAW, short], *at[RAW, long]]))
    lines = md_header(["difference (mean Dice)", f"at `{short}`", f"at `{long}`", "change, long − short",
                       f"at `{long}`, post"])
    for a, b in pairs:
        lines.append(md_row([f"`{a}` − `{b}`", fmt_paired(at[RAW, short].get((a, b)), 3),
                             fmt_paired(at[RAW, long].get((a, b)), 3), fmt_paired(changes.get((a, b)), 3),
                             fmt_paired(at[POST, long].get((a, b)), 3)]))
    return lines


def targets_lines(targets: Sequence[dict]) -> list[str]:
    """The targets as three sentences: held, missed (with the measured figure), not measured yet."""
    def fig(t: dict) -> str:
        # four decimals: a Dice of 0.8699 missing a target of 0.87 must not read as 0.870
        value = f"{num(t['measured']):.1f} mm" if "HD95" in t["target"] else f"{num(t['measured']):.4f}"
        return f"{t['target']} ({value}, {t['runs']} run{'s' * (t['runs'] != 1)})"
    held = [fig(t) for t in targets if t["met"] is True]
    missed = [fig(t) for t in targets if t["met"] is False]
    open_ = [t["target"] for t in targets if t["met"] is None]
    return [f"- {label}: {'; '.join(items)}." for label, items in
            (("Held", held), ("Missed", missed), ("Not measured yet", open_)) if items]


#: issue 29: when the long budget's interval of one of these is wider than ± this, seeds 2025-2026 are added
SEED_RULE = ((("cim", "pce_selfdice"), ("cim", "dmpls")), 0.015)
#: the seeds the budget section plans for the scribble methods at the long budget (2022-2026)
PLANNED_PAIRS = 5


def seed_rule_lines(differences: Sequence[dict]) -> list[str]:
    """Whether the long budget's seeds resolve the study's main contrasts (:data:`SEED_RULE`): per contrast the
    half-width of its 95 % interval of mean Dice, and whether more seeds are due."""
    pairs, limit = SEED_RULE
    found = {(d["a"], d["b"]): d for d in differences if d["metric"] == "dice" and d["structure"] == "mean"}
    out = []
    for a, b in pairs:
        d = found.get((a, b))
        lo, hi = (num(x) for x in (d["ci95"] if d else (None, None)))
        if not d or not np.isfinite(hi - lo):  # no pair, or one seed: no interval yet
            n = d["pairs"] if d else 0
            out.append(f"- `{a}` − `{b}`: no interval yet ({n} seed pair{'s' * (n != 1)}).")
            continue
        half = (hi - lo) / 2
        shown = f"{half:.3f}" if f"{half:.3f}" != f"{limit:.3f}" else f"{half:.4f}"  # never "± 0.015, wider than ± 0.015"
        verdict = "within" if half <= limit else "wider than"
        todo = ("" if half <= limit else f" with all {PLANNED_PAIRS} planned seed pairs in: not resolved at this budget"
                if d["pairs"] >= PLANNED_PAIRS else ": seeds 2025-2026 are added to the scribble methods before concluding")
        out.append(f"- `{a}` − `{b}`: ± {shown} over {d['pairs']} seed pairs, {verdict} ± {limit}{todo}.")
    return out


def which_cim(record: dict) -> list[str]:
    """Per CIM method of the long budget, its matching as its runs recorded it; then the geometry and budget beside
    the paper's (:data:`scribcim.report.paper_layout.SOURCES`)."""
    from .paper_layout import SOURCES
    cfg = record.get("config", {})
    out = []
    for m in paper_order([m for m in cfg if cfg[m].get("cim_level") is not None and m.startswith("cim")]):
        c = cfg[m]
        out.append(f"- `{m}`: matching at 1/{16 >> c['cim_level']} of the input, bank pixels sampled "
                   f"`{c['sampling']}`{' with the released bank sampling' if c.get('faithful') else ''}, bank "
                   f"{c['bank_size']}, token momentum {c['token_momentum']}.")
    if cfg:
        c = next(iter(cfg.values()))
        out.append(f"- Here: fold {record['fold']} of 5, {c['input_size']} px at {c['pixel_mm']} mm per pixel, "
                   f"{c['max_iterations']} iterations, {'bf16' if c.get('bf16') else 'fp32'} on CPU, checkpoint and "
                   f"post-processing chosen on validation. The paper: {SOURCES['a'].protocol}.")
    return out


def budget_block(record: dict) -> str:
    """The markdown between the README's ``budget`` markers (ends with a newline)."""
    long, short = record["long"], record["short"]
    cpus = sorted({c for p in (long, short) for c in record.get("cpus", {}).get(p, [])})
    commits = sorted({c[:7] for p in (long, short) for c in record.get("training_commits", {}).get(p, [])})
    progress = [] if not record.get("missing") else [
        f"**Being trained: {record['planned'] - len(record['missing'])} of the {record['planned']} planned runs are "
        "in.** A cell of one run is a smoke test, not a result; intervals need two seeds or more.", ""]
    lines = [*progress, f"{record['dataset'].upper()} fold {record['fold']}, test set, `{record['checkpoint']}` checkpoint "
             f"(chosen on validation); {_label(record, short)} and {_label(record, long)} differ only in training "
             "length. Mean ± sd across seeds, raw first, post-processed (largest components, chosen on validation) "
             "beside; HD95 mean over classes.", "", *which_cim(record), "", *methods_table(record), "",
             "Differences paired by seed: mean [95 % t-interval], seeds where the first is better / pairs.", "",
             *differences_table(record), "", "Still climbing at the last iteration?",
             *(f"- {climbing_line(record.get('climbing', []), p)}" for p in (short, long)), "",
             f"Do the seeds resolve the main contrasts at `{long}` (raw)?",
             *seed_rule_lines((record[RAW]["per_profile"].get(long) or {"differences": []})["differences"]), "",
             f"Targets at `{long}` (issue 29, stated before training)"
             + (", so far, on the runs that are in:" if record.get("missing") else ":"),
             *targets_lines(record["targets"]), "",
             f"From `results/tables/{record['dataset']}_budget.json` (`make budget`; trained at "
             f"{', '.join(commits) or '-'} on {', '.join(cpus) or '-'}; every number: "
             f"`results/tables/{record['dataset']}_budget.md`, learning curves: "
             f"`figures/{record['dataset']}_budget_curves.png`)."]
    return "\n".join(lines) + "\n"
