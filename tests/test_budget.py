"""The budget study's report (issue 29) on toy summaries: per-budget tables, differences, their seed-paired change
between budgets, the gains, the bf16 cost, the targets and the learning-curve figure."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from scribcim.report.budget import BUDGET_TARGETS, budget_markdown, budget_study, change_between, render_budget
from scribcim.report.targets import Target, check

CLASSES = ("RV", "MYO", "LV")
SEEDS = (1, 2, 3)
# profile -> method -> per-seed Dice of the run (one test volume per run, each class equal to it)
DICE = {
    "short": {"pce_selfdice": [0.80, 0.82, 0.81], "cim": [0.82, 0.81, 0.84], "full": [0.88, 0.88, 0.89]},
    "long": {"pce_selfdice": [0.85, 0.86, 0.86], "cim": [0.88, 0.90, 0.89], "full": [0.91, 0.90, 0.91],
             "cim_paper": [0.87, 0.88, 0.86]},
    "fp32": {"pce_selfdice": [0.81, 0.82, 0.80], "cim": [0.83, 0.81, 0.85]},
}


def _summary(profile: str, method: str, seed: int, dice: float) -> dict:
    cls = {c: {"dice": dice, "hd95": 20 * (1 - dice), "asd": 1.0, "empty_pred": False} for c in CLASSES}
    case = {"case": "c0", "classes": cls, "foreground_mean": {"dice": dice, "hd95": 20 * (1 - dice), "asd": 1.0}}
    post = {"postprocessing": "lcc", "cases": [json.loads(json.dumps(case).replace(str(dice), str(dice + 0.01)))]}
    best = {"iteration": 10, "cases": [case], "postprocessed": post}
    if method.startswith("cim"):
        best["bank_purity"] = {c: 0.9 for c in CLASSES}
        best["bank_shared"] = {c: 0.0 for c in CLASSES}
    return {"method": method, "dataset": "acdc", "fold": 1, "profile": profile, "seed": seed,
            "checkpoints": {"best": best},
            "provenance": {"config": {"scribbles": "expert", "method": method, "max_iterations": 10, "input_size": 128,
                                      "pixel_mm": 1.75, "bf16": True, "cim_level": int(method != "cim_paper"),
                                      "sampling": "any" if method == "cim_paper" else "majority",
                                      "faithful": method == "cim_paper", "bank_size": 1000, "token_momentum": 0.99},
                           "train": {"git": {"commit": "abc1234"}}}}


@pytest.fixture
def toy(tmp_path):
    for profile, by_method in DICE.items():
        for method, dice in by_method.items():
            for seed, d in zip(SEEDS, dice):
                folder = tmp_path / "results" / "acdc" / profile / method / "fold1" / f"seed{seed}"
                folder.mkdir(parents=True)
                (folder / "summary.json").write_text(json.dumps(_summary(profile, method, seed, d)))
                (folder / "train_log.jsonl").write_text("".join(
                    json.dumps({"iteration": it, "val_dice": d * it / 10}) + "\n" for it in (5, 10)))
    return tmp_path


def _half(x):
    x = np.asarray(x)
    return stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)


def test_change_of_a_difference_is_paired_by_seed(toy):
    study = budget_study(toy / "results", long="long", short="short", fp32="fp32")
    change = next(c for c in study["raw"]["changes"] if (c["a"], c["b"], c["metric"]) == ("cim", "pce_selfdice",
                                                                                         "dice"))
    per = (np.array(DICE["long"]["cim"]) - DICE["long"]["pce_selfdice"]) - \
        (np.array(DICE["short"]["cim"]) - DICE["short"]["pce_selfdice"])
    assert change["per_seed"] == pytest.approx(list(per)) and change["pairs"] == 3
    assert change["mean"] == pytest.approx(per.mean())
    assert change["ci95"] == pytest.approx([per.mean() - _half(per), per.mean() + _half(per)])
    # cim_paper ran at the long budget only: its contrasts have no change
    assert not [c for c in study["raw"]["changes"] if c["a"] == "cim_paper"]
    assert {(d["a"], d["b"]) for d in study["raw"]["per_profile"]["long"]["differences"]} == {
        ("cim", "pce_selfdice"), ("cim_paper", "cim"), ("cim_paper", "pce_selfdice")}


def test_gains_and_bf16_cost_per_method(toy):
    study = budget_study(toy / "results", long="long", short="short", fp32="fp32")
    gain = {g["method"]: g for g in study["raw"]["gains"] if g["metric"] == "dice"}
    assert set(gain) == {"pce_selfdice", "cim", "full"}
    assert gain["cim"]["mean"] == pytest.approx(np.mean(np.array(DICE["long"]["cim"]) - DICE["short"]["cim"]))
    assert set(study["cpus"]) == {"long", "short", "fp32"}  # named beside the bf16 cost (precision and CPU kind)
    cost = {g["method"]: g for g in study["raw"]["bf16_cost"]}
    assert set(cost) == {"pce_selfdice", "cim"}
    assert cost["cim"]["per_seed"] == pytest.approx(list(np.array(DICE["short"]["cim"]) - DICE["fp32"]["cim"]))
    # post-processed numbers are the raw ones + 0.01 in this toy: the same paired differences
    post = {g["method"]: g for g in study["post"]["bf16_cost"]}
    assert post["cim"]["mean"] == pytest.approx(cost["cim"]["mean"])


def test_targets_of_the_long_budget(toy):
    study = budget_study(toy / "results", long="long", short="short", fp32="fp32")
    by = {t["target"]: t for t in study["targets"]}
    assert by["full: mean Dice >= 0.90"]["met"] is True
    assert by["cim: mean Dice >= 0.87"]["measured"] == pytest.approx(0.89)
    gap = by["best scribble method within 0.015 of full, post-processed"]
    assert gap["best"] == "cim" and gap["measured"] == pytest.approx(np.mean(DICE["long"]["full"]) - 0.89)
    assert gap["met"] is False  # 0.017 behind full: missed
    assert by["dmpls: across-seed sd of mean Dice <= 0.015"]["met"] is None  # not run: not measured, never met
    assert len(study["targets"]) == len(BUDGET_TARGETS)


def test_a_gap_target_needs_both_sides():
    record = {"table": [{"dataset": "acdc", "method": "full", "structure": "mean", "dice_mean": 0.9, "runs": 3}],
              "differences": []}
    (res,) = check(record, "acdc", [Target("gap", "gap", "full", limit=0.01, other="cim")])
    assert res["met"] is None and res["measured"] is None


def test_render_writes_tables_and_curves(toy):
    rec = render_budget(toy / "results", toy / "tables", toy / "figures", long="long", short="short", fp32="fp32")
    md = (toy / "tables" / "acdc_budget.md").read_text()
    assert "## `long`" in md and "How each difference changes from `short` to `long` (raw)" in md
    assert "What bf16 costs" in md and "Targets at `long`" in md and "cim_paper" in md
    assert (toy / "figures" / "acdc_budget_curves.png").stat().st_size > 10_000
    assert json.loads((toy / "tables" / "acdc_budget.json").read_text())["raw"]["changes"] == \
        json.loads(json.dumps(rec["raw"]["changes"]))
    assert "`cim_paper` | purity" in "\n".join(budget_markdown(budget_study(toy / "results", long="long",
                                                                            short="short", fp32="fp32")))


def test_no_long_runs_is_an_error_naming_the_command(toy):
    from scribcim.errors import DataError
    with pytest.raises(DataError, match="snakemake -s workflow/Snakefile budget"):
        budget_study(toy / "results", long="nope", short="short")


def test_seed_rule_asks_for_more_seeds_when_an_interval_is_wide():
    from scribcim.report.budget_block import seed_rule_lines
    wide = {"a": "cim", "b": "dmpls", "metric": "dice", "structure": "mean", "pairs": 3, "ci95": [-0.02, 0.02]}
    one = {**wide, "b": "pce_selfdice", "pairs": 1, "ci95": [None, None]}
    assert seed_rule_lines([wide, one]) == [
        "- `cim` − `pce_selfdice`: no interval yet (1 seed pair).",
        "- `cim` − `dmpls`: ± 0.020 over 3 seed pairs, wider than ± 0.015: seeds 2025-2026 are added to the scribble "
        "methods before concluding."]
    # all planned seeds in and still wide: said so; a half-width that rounds to the limit is shown to 4 places
    done = {**wide, "pairs": 5, "ci95": [-0.0152, 0.0152]}
    assert seed_rule_lines([done]) == [
        "- `cim` − `pce_selfdice`: no interval yet (0 seed pairs).",
        "- `cim` − `dmpls`: ± 0.0152 over 5 seed pairs, wider than ± 0.015 with all 5 planned seed pairs in: not "
        "resolved at this budget."]


def test_change_between_needs_common_seeds():
    a = {"a": "x", "b": "y", "metric": "dice", "structure": "mean", "seeds": [1, 2], "per_seed": [0.1, 0.2],
         "mean": 0.15}
    c = change_between(a, dict(a, seeds=[3], per_seed=[0.0], mean=0.0))
    assert c["pairs"] == 0 and math.isnan(c["mean"])


def test_readme_block_of_the_budget_study(toy, tmp_path):
    from scribcim.report.budget_block import budget_block
    from scribcim.report.doc_blocks import update
    rec = json.loads(json.dumps(render_budget(toy / "results", toy / "tables", toy / "figures", long="long",
                                              short="short", fp32="fp32")))
    block = budget_block(rec)
    assert "`short` (10 it.) and `long` (10 it.)" in block
    rows = {line.split(" | ")[0]: line for line in block.splitlines() if line.startswith("| `")}
    # cim: 3 runs at each budget; raw Dice at both budgets, post-processed +0.01 (the toy's post rows)
    assert rows["| `cim`"].startswith("| `cim` | 3/3 | 0.823 ± 0.015 | 0.890 ± 0.010 | 0.900 ± 0.010 |")
    assert rows["| `cim_paper`"].startswith("| `cim_paper` | 0/3 | - |")
    diff = np.subtract(DICE["long"]["cim"], DICE["long"]["pce_selfdice"])
    change = diff - np.subtract(DICE["short"]["cim"], DICE["short"]["pce_selfdice"])
    lo, hi = diff.mean() - _half(diff), diff.mean() + _half(diff)
    line = rows["| `cim` − `pce_selfdice`"]
    assert f"{diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}], 3/3" in line
    assert f"{change.mean():+.3f} [{change.mean() - _half(change):+.3f}, {change.mean() + _half(change):+.3f}]" in line
    assert "- `cim`: matching at 1/8 of the input, bank pixels sampled `majority`, bank 1000" in block
    assert "- `cim_paper`: matching at 1/16 of the input, bank pixels sampled `any` with the released" in block
    assert "- Here: fold 1 of 5, 128 px at 1.75 mm per pixel, 10 iterations, bf16 on CPU" in block
    assert "- Held: full: mean Dice >= 0.90 (0.9067, 3 runs)" in block and "Not measured yet: dmpls" in block
    assert f"- `cim` − `pce_selfdice`: ± {_half(diff):.3f} over 3 seed pairs, within ± 0.015." in block
    assert "- `cim` − `dmpls`: no interval yet (0 seed pairs)." in block
    page = tmp_path / "page.md"
    page.write_text("x\n<!-- budget acdc -->\nstale\n<!-- /budget -->\ny\n")
    assert not update(page, toy / "tables") and update(page, toy / "tables")
    assert page.read_text() == f"x\n<!-- budget acdc -->\n{block}<!-- /budget -->\ny\n"


def test_still_climbing_per_run_and_per_method():
    import pandas as pd
    from scribcim.report.climbing import climbing_line, climbing_runs, climbing_summary
    its = list(range(100, 1600, 100))
    rising = [0.5 + 0.02 * i for i in range(15)]
    rising[11] += 0.2  # its best at 1200: among the last four validations (1200-1500)
    early = [0.9 if it == 500 else 0.5 for it in its]  # its best at 500, flat after
    rows = [{"profile": "p", "method": m, "seed": s, "iteration": it, "val_dice": v}
            for m, s, vals in (("cim", 1, rising), ("pce_selfdice", 1, early), ("cim", 2, early))
            for it, v in zip(its, vals)]
    runs = climbing_runs(pd.DataFrame(rows)).set_index(["method", "seed"])
    assert runs.loc[("cim", 1), "best"] == 1200 and runs.loc[("cim", 1), "late"]
    assert runs.loc[("cim", 1), "from"] == 1000 and runs.loc[("cim", 1), "rise"] == pytest.approx(0.1)
    assert runs.loc[("pce_selfdice", 1), "best"] == 500 and not runs.loc[("pce_selfdice", 1), "late"]
    summary = climbing_summary(runs.reset_index())
    assert [(r["method"], r["runs"], r["late"], r["rose"]) for r in summary] == [("pce_selfdice", 1, 0, 0),
                                                                                 ("cim", 2, 1, 1)]
    assert summary[1]["median_rise"] == pytest.approx(0.05) and summary[1]["window"] == "1000-1500"
    assert climbing_line(summary, "p") == ("`p`: best checkpoint among the last 4 validations in 1 of 3 runs; "
                                           "validation Dice rose over iterations 1000-1500 in 1 of 3 (median rise "
                                           "`pce_selfdice` +0.000, `cim` +0.050).")
    assert climbing_line(summary, "q") == "`q`: no validation curves."


def test_planned_runs_not_in_are_named(toy):
    from scribcim.report.budget_block import budget_block
    planned = [dict(profile="long", dataset="acdc", method=m, fold=1, seed=s) for m in ("cim", "dmpls") for s in SEEDS]
    rec = render_budget(toy / "results", toy / "tables", toy / "figures", long="long", short="short", planned=planned)
    assert rec["planned"] == 6 and rec["missing"] == ["long/dmpls/seed1", "long/dmpls/seed2", "long/dmpls/seed3"]
    assert budget_block(json.loads(json.dumps(rec))).startswith("**Being trained: 3 of the 6 planned runs are in.**")
    assert "Being trained: 3 of the 6 planned runs are in (missing: long/dmpls/seed1," in \
        (toy / "tables" / "acdc_budget.md").read_text()
    done = render_budget(toy / "results", toy / "tables", toy / "figures", long="long", short="short",
                         planned=planned[:3])
    assert done["missing"] == [] and not budget_block(json.loads(json.dumps(done))).startswith("**Being trained")


def test_a_near_miss_reads_as_a_miss():
    from scribcim.report.budget_block import targets_lines
    lines = targets_lines([{"target": "cim: mean Dice >= 0.87", "measured": 0.86989, "runs": 3, "met": False},
                           {"target": "cim: HD95 (mean over classes) <= 15 mm, raw", "measured": 11.33, "runs": 3,
                            "met": True}])
    assert lines == ["- Held: cim: HD95 (mean over classes) <= 15 mm, raw (11.3 mm, 3 runs).",
                     "- Missed: cim: mean Dice >= 0.87 (0.8699, 3 runs)."]
