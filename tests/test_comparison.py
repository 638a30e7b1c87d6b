"""The across-seed comparison: per-run means, mean ± sd across seeds, seed-paired differences, table and figure."""
from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scribcim.report.comparison import across_seeds, paired_differences, render_comparison, run_means, training_commits
from scribcim.report.results import case_table, summary_rows
from scribcim.report.results_report import main_runs
from scribcim.viz.methods import plot_seeds

CLASSES = ("RV", "MYO", "LV")


def _summary(method: str, seed: int, dice: list[float], *, commit: str = "abc", purity: float | None = None) -> dict:
    """A summary whose cases have the given foreground Dice (each class equal to it), HD95 = 10 * (1 - Dice)."""
    cases = []
    for i, d in enumerate(dice):
        cls = {c: {"dice": d, "hd95": 10 * (1 - d), "asd": 1.0, "empty_pred": False} for c in CLASSES}
        cases.append({"case": f"case{i}", "classes": cls,
                      "foreground_mean": {"dice": d, "hd95": 10 * (1 - d), "asd": 1.0}})
    best = {"iteration": 10, "cases": cases}
    if purity is not None:
        best["bank_purity"] = {c: purity for c in CLASSES}
        best["bank_shared"] = {c: 0.0 for c in CLASSES}
    return {"method": method, "dataset": "acdc", "fold": 1, "profile": "toy", "seed": seed,
            "checkpoints": {"best": best},
            "provenance": {"config": {"scribbles": "expert"}, "train": {"git": {"commit": commit}}}}


DICE = {  # method -> seed -> per-case Dice (two test volumes)
    "pce": {1: [0.5, 0.7], 2: [0.6, 0.6], 3: [0.4, 0.6]},
    "pce_selfdice": {1: [0.7, 0.7], 2: [0.6, 0.8], 3: [0.7, 0.9]},
    "cim": {1: [0.8, 0.8], 2: [0.6, 0.8], 3: [0.9, 0.9]},
}


@pytest.fixture
def toy_results(tmp_path):
    for m, by_seed in DICE.items():
        for seed, dice in by_seed.items():
            d = tmp_path / "results" / "acdc" / "toy" / m / "fold1" / f"seed{seed}"
            d.mkdir(parents=True)
            s = _summary(m, seed, dice, purity=0.8 if m == "cim" else None)
            (d / "summary.json").write_text(json.dumps(s))
    return tmp_path / "results"


def test_run_means_and_across_seed_sd(toy_results):
    runs = run_means(main_runs(case_table(toy_results), dataset="acdc", profile="toy"))
    cim = runs[(runs.method == "cim") & (runs.structure == "mean")].set_index("seed").dice
    assert cim.to_dict() == pytest.approx({1: 0.8, 2: 0.7, 3: 0.9})
    table = across_seeds(runs)
    row = table[(table.method == "cim") & (table.structure == "mean")].iloc[0]
    assert row.dice_mean == pytest.approx(0.8) and row.dice_std == pytest.approx(0.1)  # sample sd of .8 .7 .9
    assert row.runs == 3 and row.seeds == "1,2,3"


def test_paired_difference_matches_a_t_interval(toy_results):
    runs = run_means(main_runs(case_table(toy_results), dataset="acdc", profile="toy"))
    d = paired_differences(runs, "cim", "pce_selfdice")
    per = np.array([0.8 - 0.7, 0.7 - 0.7, 0.9 - 0.8])
    assert d["per_seed"] == pytest.approx(list(per)) and d["pairs"] == 3 and d["seeds"] == [1, 2, 3]
    half = stats.t.ppf(0.975, 2) * per.std(ddof=1) / math.sqrt(3)
    assert d["mean"] == pytest.approx(per.mean()) and d["ci95"] == pytest.approx([per.mean() - half, per.mean() + half])
    assert d["a_better"] == 2


def test_only_common_seeds_pair(toy_results):
    runs = run_means(main_runs(case_table(toy_results), dataset="acdc", profile="toy"))
    runs = runs[~((runs.method == "pce") & (runs.seed == 3))]
    d = paired_differences(runs, "cim", "pce")
    assert d["pairs"] == 2 and d["seeds"] == [1, 2]
    one = paired_differences(runs[runs.seed == 1], "cim", "pce")
    assert one["pairs"] == 1 and math.isnan(one["sd"]) and math.isnan(one["ci95"][0])


def test_render_writes_table_figure_and_record(toy_results, tmp_path):
    rec = render_comparison(toy_results, tmp_path / "tables", tmp_path / "figures", profile="toy", datasets=("acdc",))
    md = (tmp_path / "tables" / "toy_seeds.md").read_text()
    assert "| cim | 3 | 0.800 ± 0.100 | 0.800 ± 0.100 | 0.800 ± 0.100 | 0.800 ± 0.100 | 2.0 ± 1.0 |" in md
    assert "cim − pce_selfdice" in md and "cim − pce" in md and "purity" in md
    assert (tmp_path / "figures" / "acdc_toy_seeds.png").stat().st_size > 1000
    assert rec["training_commits"] == ["abc"]
    assert {d["b"] for d in rec["differences"]} == {"pce_selfdice", "pce"}
    pur = [r for r in rec["bank_purity"] if r["kind"] == "bank_purity"]
    assert len(pur) == 3 and all(r["mean"] == pytest.approx(0.8) and r["runs"] == 3 for r in pur)
    # summaries without post-processed metrics (older ones) give no post-processed output at all
    assert "postprocessed" not in rec and "ost-processed" not in md
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == [f"toy_seeds{x}" for x in
                                                                        (".csv", ".json", ".md", "_runs.csv")]


def test_purity_without_dense_labels_is_said_not_measured(toy_results, tmp_path):
    """A dataset whose CIM runs record no purity (MSCMR: no dense training labels) gets a line, not a nan table."""
    for seed in DICE["cim"]:
        path = toy_results / "acdc" / "toy" / "cim" / "fold1" / f"seed{seed}" / "summary.json"
        s = json.loads(path.read_text())
        s["checkpoints"]["best"]["bank_purity"] = {c: None for c in CLASSES}
        s["checkpoints"]["best"]["bank_shared"] = {c: None for c in CLASSES}
        path.write_text(json.dumps(s))
    render_comparison(toy_results, tmp_path / "tables", tmp_path / "figures", profile="toy", datasets=("acdc",))
    md = (tmp_path / "tables" / "toy_seeds.md").read_text()
    assert "Bank purity is not measured on acdc" in md and "nan" not in md


def test_training_commits_name_every_commit():
    two = [_summary("pce", 1, [0.5], commit="a"), _summary("cim", 1, [0.5], commit="b")]
    assert training_commits(two) == ["a", "b"]


def test_selection_uses_validation_only_and_the_fixed_criterion(tmp_path):
    """The candidate with the higher mean last-iteration validation Dice wins; test metrics play no part
    (the loser here has the better test Dice); the curves figure and the record are written."""
    from scribcim.report.selection import choose, render_selection, validation_runs
    val_last = {"A": {"cim": [0.80, 0.82, 0.81], "pce_selfdice": [0.70, 0.71, 0.72]},
                "B": {"cim": [0.78, 0.79, 0.77], "pce_selfdice": [0.70, 0.70, 0.71]}}
    for prof, by_method in val_last.items():
        for m, vals in by_method.items():
            for seed, v in zip((1, 2, 3), vals):
                d = tmp_path / "results" / "acdc" / prof / m / "fold1" / f"seed{seed}"
                d.mkdir(parents=True)
                s = _summary(m, seed, [0.99 if prof == "B" else 0.1])
                s["profile"] = prof
                s["checkpoints"]["best"].update(val_dice=v + 0.01, iteration=1000)
                s["checkpoints"]["last"] = {"val_dice": v, "iteration": 1500, "cases": []}
                s["provenance"]["train_result"] = {"wall_time_s": 100.0}
                (d / "summary.json").write_text(json.dumps(s))
                (d / "train_log.jsonl").write_text("".join(
                    json.dumps({"iteration": it, "val_dice": v * it / 1500}) + "\n" for it in (500, 1000, 1500)))
    runs = validation_runs(tmp_path / "results", "acdc", ["A", "B"], methods=["cim", "pce_selfdice"], seeds=[1, 2, 3])
    assert len(runs) == 12
    assert len(validation_runs(tmp_path / "results", "acdc", ["A", "B"], methods=["cim"], seeds=[1, 2])) == 4
    chosen, crit = choose(runs)
    assert chosen == "A" and crit.iloc[0].criterion == pytest.approx((0.81 + 0.71) / 2)
    # within the tie margin the steadier candidate wins
    assert choose(runs, tie=0.1)[0] == min(("A", "B"), key=lambda p: crit.set_index("profile").sd[p])
    rec = render_selection(tmp_path / "results", tmp_path / "out", tmp_path / "fig", dataset="acdc",
                           profiles=["A", "B"], methods=["cim", "pce_selfdice"], seeds=[1, 2, 3])
    assert rec["chosen"] == "A" and "Chosen: **A**" in (tmp_path / "out" / "profile_selection.md").read_text()
    assert (tmp_path / "fig" / "acdc_profile_selection.png").stat().st_size > 1000


#: method -> seed -> the post-processing its validation patients chose; a chosen step adds 0.1 to each case's Dice
CHOICES = {"pce": {1: "none", 2: "none", 3: "none"},
           "pce_selfdice": {1: "largest_fg_classes", 2: "none", 3: "none"},
           "cim": {1: "largest_fg", 2: "largest_fg", 3: "none"}}


def _with_post(s: dict, choice: str) -> dict:
    """``s`` with post-processed metrics beside the raw ones, as ``scribcim evaluate`` writes them."""
    step = 0.1 if choice != "none" else 0.0
    dice = [c["foreground_mean"]["dice"] + step for c in s["checkpoints"]["best"]["cases"]]
    post = _summary(s["method"], s["seed"], dice)["checkpoints"]["best"]
    s["checkpoints"]["best"]["postprocessed"] = {"num_cases": len(dice), "cases": post["cases"]}
    s["checkpoints"]["best"]["postprocessing"] = {"choice": choice, "val_dice": {}, "rule": "nnU-Net", "volumes": 2}
    return s


@pytest.fixture
def toy_post_results(toy_results):
    for m, by_seed in CHOICES.items():
        for seed, choice in by_seed.items():
            path = toy_results / "acdc" / "toy" / m / "fold1" / f"seed{seed}" / "summary.json"
            path.write_text(json.dumps(_with_post(json.loads(path.read_text()), choice)))
    return toy_results


def test_summary_rows_postprocessed_reads_the_post_processed_cases():
    s = _with_post(_summary("cim", 1, [0.5, 0.7]), "largest_fg")
    s["checkpoints"]["last"] = _summary("cim", 1, [0.1])["checkpoints"]["best"]  # an older checkpoint: no post
    raw, post = summary_rows(s), summary_rows(s, postprocessed=True)
    assert len(raw) == 12 and [r["dice"] for r in raw if r["structure"] == "mean"] == pytest.approx([0.5, 0.7, 0.1])
    assert {r["checkpoint"] for r in post} == {"best"} and len(post) == 8
    assert [r["dice"] for r in post if r["structure"] == "mean"] == pytest.approx([0.6, 0.8])
    assert {r["postprocessing"] for r in post} == {"largest_fg"} and "postprocessing" not in raw[0]
    assert summary_rows(_summary("cim", 1, [0.5]), postprocessed=True) == []


def test_render_shows_post_processed_beside_raw(toy_post_results, tmp_path):
    rec = render_comparison(toy_post_results, tmp_path / "tables", tmp_path / "figures", profile="toy",
                            datasets=("acdc",))
    md = (tmp_path / "tables" / "toy_seeds.md").read_text()
    raw_row = "| cim | 3 | 0.800 ± 0.100 | 0.800 ± 0.100 | 0.800 ± 0.100 | 0.800 ± 0.100 | 2.0 ± 1.0 |"
    post_row = "| cim | 3 | 0.867 ± 0.058 | 0.867 ± 0.058 | 0.867 ± 0.058 | 0.867 ± 0.058 | 1.3 ± 0.6 |"
    assert md.index(raw_row) < md.index("Post-processed") < md.index(post_row)
    assert "cim: largest_fg 2, none 1" in md and "pce: none 3" in md
    assert "pce_selfdice: none 2, largest_fg_classes 1" in md
    assert md.index("Seed-paired differences (a") < md.index("Seed-paired differences of the post-processed means")
    assert "Only" not in md  # every run has post-processed metrics
    post = rec["postprocessed"]
    assert post["choices"] == {"acdc": {m: {"none": 3} if m == "pce" else
                                        ({"largest_fg": 2, "none": 1} if m == "cim" else
                                         {"none": 2, "largest_fg_classes": 1}) for m in CHOICES}}
    cim = [r for r in post["table"] if r["method"] == "cim" and r["structure"] == "mean"][0]
    assert cim["dice_mean"] == pytest.approx(0.8 + 0.2 / 3) and cim["runs"] == 3
    d = [x for x in post["differences"] if x["b"] == "pce"][0]
    assert d["per_seed"] == pytest.approx([0.9 - 0.6, 0.8 - 0.6, 0.9 - 0.5])
    runs_post = (tmp_path / "tables" / "toy_seeds_runs_post.csv").read_text()
    assert runs_post.splitlines()[0].endswith("postprocessing,dice,hd95,asd") and "largest_fg" in runs_post
    assert (tmp_path / "tables" / "toy_seeds_post.csv").is_file()
    # the raw numbers are those of the same summaries without post-processed metrics, byte for byte
    for seed_dir in toy_post_results.glob("acdc/toy/*/fold1/seed*"):
        s = json.loads((seed_dir / "summary.json").read_text())
        del s["checkpoints"]["best"]["postprocessed"]
        (seed_dir / "summary.json").write_text(json.dumps(s))
    plain = render_comparison(toy_post_results, tmp_path / "t0", tmp_path / "f0", profile="toy", datasets=("acdc",))
    assert plain["table"] == rec["table"] and plain["differences"] == rec["differences"]
    for name in ("toy_seeds.csv", "toy_seeds_runs.csv"):
        assert (tmp_path / "t0" / name).read_bytes() == (tmp_path / "tables" / name).read_bytes()
    assert md.startswith((tmp_path / "t0" / "toy_seeds.md").read_text().split("\n\n")[0])


def test_partly_post_processed_runs_are_counted(toy_post_results, tmp_path):
    path = toy_post_results / "acdc" / "toy" / "cim" / "fold1" / "seed3" / "summary.json"
    s = json.loads(path.read_text())
    del s["checkpoints"]["best"]["postprocessed"]
    path.write_text(json.dumps(s))
    rec = render_comparison(toy_post_results, tmp_path / "tables", tmp_path / "figures", profile="toy",
                            datasets=("acdc",))
    assert "Only 8 of the 9 runs have post-processed metrics." in (tmp_path / "tables" / "toy_seeds.md").read_text()
    assert rec["postprocessed"]["choices"]["acdc"]["cim"] == {"largest_fg": 2}


def test_plot_seeds_draws_post_processed_as_a_second_row(toy_post_results):
    runs = run_means(main_runs(case_table(toy_post_results), dataset="acdc", profile="toy"))
    fig = plot_seeds(runs, "acdc")
    assert len(fig.axes) == 1 and fig.axes[0].get_title().startswith("acdc: runs by seed")
    plt.close(fig)
    post_rows = [r for p in toy_post_results.rglob("summary.json")
                 for r in summary_rows(json.loads(p.read_text()), postprocessed=True)]
    post = run_means(main_runs(pd.DataFrame(post_rows), dataset="acdc", profile="toy"))
    fig = plot_seeds(runs, "acdc", post=post)
    (top, bottom) = fig.axes
    assert "raw" in top.get_title() and "post-processed" in bottom.get_title()
    assert top.get_ylim() == bottom.get_ylim()
    plt.close(fig)
