"""The multi-seed robustness grid (issue 21): its workflow section, and the report's numbers on a toy grid
checked against hand-computed means, sds, seed-paired differences, slopes and their intervals."""
from __future__ import annotations

import json
import math

import matplotlib.pyplot as plt
from matplotlib.collections import PathCollection
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from scribcim.errors import ConfigError, DataError
from scribcim.report.robustness_seeds import main, render_robustness_seeds
from scribcim.report.robustness_seeds_stats import read_grid
from scribcim.config.workflow import check_workflow_config, seed_grid, seed_run_path
from test_comparison import _summary, _with_post
from test_train_errors import workflow_config

SECTION = {"profile": "toy", "dataset": "acdc", "methods": ["pce_selfdice", "dmpls", "cim"],
           "base": "matched-centreline", "levels": ["0.00", "0.50", "1.00"], "seeds": [1, 2, 3],
           "scribble_seeds": "paired", "fold": 1}
#: method -> condition -> each seed's run mean Dice (the run's two test volumes at mean -+ 0.05)
DICE = {
    "cim": {"expert": [0.80, 0.78, 0.82], "0.00": [0.78, 0.76, 0.80], "0.50": [0.77, 0.74, 0.80],
            "1.00": [0.75, 0.73, 0.78]},
    "pce_selfdice": {"expert": [0.75, 0.74, 0.77], "0.00": [0.74, 0.72, 0.75], "0.50": [0.70, 0.69, 0.72],
                     "1.00": [0.66, 0.65, 0.69]},
    "dmpls": {"expert": [0.70, 0.72, 0.71], "0.00": [0.70, 0.70, 0.69], "0.50": [0.66, 0.67, 0.66],
              "1.00": [0.62, 0.63, 0.60]},
}
X = np.array([0.0, 0.5, 1.0])


def _toy_summary(run: dict, post: bool) -> dict:
    k = SECTION["seeds"].index(run["seed"])
    v = DICE[run["method"]][run["level"] or "expert"][k]
    # cim's banks: purity 0.95 on expert scribbles, 0.9 - 0.2 x level on simulated ones, + 0.01 x seed index
    purity = (0.95 if run["level"] is None else 0.9 - 0.2 * float(run["level"])) + 0.01 * k
    s = _summary(run["method"], run["seed"], [v - 0.05, v + 0.05], purity=purity if run["method"] == "cim" else None)
    if run["level"] is not None:
        s["provenance"]["config"] = {"scribbles": SECTION["base"], "inconsistency": float(run["level"]),
                                     "scribble_seed": run["scribble_seed"]}
    # post-processed metrics: cim's chosen step adds 0.1 to each volume, pce_selfdice's none, dmpls has none
    return _with_post(s, "largest_fg" if run["method"] == "cim" else "none") if post and run["method"] != "dmpls" else s


def _write_grid(results, post: bool):
    for run in seed_grid(SECTION):
        d = results / seed_run_path(SECTION, run)
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps(_toy_summary(run, post)))
    return results


@pytest.fixture(params=[False, True], ids=["raw", "post"])
def grid(request, tmp_path):
    return _write_grid(tmp_path / "results", request.param)


def _t_interval(v: np.ndarray) -> list[float]:
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return [v.mean() - half, v.mean() + half]


def _ls(x: np.ndarray, y: np.ndarray) -> tuple[float, list[float]]:
    """Least-squares slope and its 95 % t-interval, by hand."""
    sxx = ((x - x.mean()) ** 2).sum()
    slope = ((x - x.mean()) * (y - y.mean())).sum() / sxx
    resid = y - (y.mean() + slope * (x - x.mean()))
    half = stats.t.ppf(0.975, x.size - 2) * math.sqrt((resid ** 2).sum() / (x.size - 2) / sxx)
    return slope, [slope - half, slope + half]


def test_slope_interval_is_over_seeds_not_runs():
    """Three seeds with the same slope (-0.1) but different offsets: the 9 runs are not 9 independent points; the
    interval is a t-interval over the 3 per-seed slopes (2 degrees of freedom), here of zero width."""
    from scribcim.report.robustness_seeds_stats import slopes
    runs = pd.DataFrame([{"method": "cim", "seed": s, "structure": "mean", "condition": f"{lv:.2f}", "level": lv,
                          "dice": 0.9 - 0.1 * s - 0.1 * lv} for s in (1, 2, 3) for lv in X])
    (s,) = slopes(runs)
    assert (s["n"], s["runs"], s["seeds"]) == (3, 9, [1, 2, 3])
    assert s["slope"] == pytest.approx(-0.1) and s["ci95"] == pytest.approx([-0.1, -0.1])
    noisy = runs.assign(dice=runs.dice + np.where(runs.seed == 2, 0.02 * runs.level, 0.0))
    per = np.array([-0.1, -0.08, -0.1])
    assert slopes(noisy)[0]["ci95"] == pytest.approx(_t_interval(per))


def test_paired_scribble_seeds_and_run_folders():
    grid = seed_grid(SECTION)
    assert len(grid) == 3 * 3 * 4  # methods x seeds x (expert + 3 levels)
    assert {(r["seed"], r["scribble_seed"]) for r in grid} == {(1, 0), (2, 1), (3, 2)}
    sim = next(r for r in grid if r["method"] == "cim" and r["seed"] == 2 and r["level"] == "0.50")
    assert seed_run_path(SECTION, sim) == "acdc/toy/sim-matched-centreline-inc0.50-seed1/cim/fold1/seed2"
    assert {r["scribble_seed"] for r in seed_grid({**SECTION, "scribble_seeds": 7})} == {7}


def test_committed_section_plans_36_runs():
    cfg = workflow_config()
    assert len(seed_grid(cfg["robustness_seeds"])) == 36
    assert check_workflow_config(cfg) > 36


@pytest.mark.parametrize("change, match", [
    ({"scribble_seeds": "pairs"}, r"robustness_seeds.scribble_seeds: must be 'paired' or a scribble seed >= 0"),
    ({"scribble_seeds": -1}, "scribble_seeds: must be 'paired'"),
    ({"scribble_seeds": True}, "scribble_seeds: must be 'paired'"),
    ({"levels": [0.5]}, r"robustness_seeds.levels: 0.5 must be a quoted level"),
    ({"seeds": [2022, 2022]}, "robustness_seeds.seeds: must not repeat a seed"),
    ({"seeds": []}, "robustness_seeds.seeds: must be a non-empty list"),
    ({"base": "nobody"}, "robustness_seeds: scribbles must be 'expert' or a simulated annotator"),
    ({"base": "expert"}, "robustness_seeds.base: must be a simulated annotator"),
    ({"methods": ["nosuchmethod"]}, "robustness_seeds: unknown method 'nosuchmethod'"),
    ({"methods": ["full"]}, "robustness_seeds: method 'full' trains on dense labels"),
    ({"profile": "nosuchprofile"}, "robustness_seeds: unknown profile"),
    ({"bogus": 1}, r"robustness_seeds: unknown key\(s\) \['bogus'\]"),
])
def test_bad_section_is_refused(change, match):
    cfg = workflow_config()
    with pytest.raises(ConfigError, match=match):
        check_workflow_config({**cfg, "robustness_seeds": {**cfg["robustness_seeds"], **change}})


def test_missing_section_is_refused():
    cfg = workflow_config()
    del cfg["robustness_seeds"]
    with pytest.raises(ConfigError, match=r"missing key\(s\) \['robustness_seeds'\]|must be a mapping"):
        check_workflow_config(cfg)


def test_table_differences_and_slopes_match_hand_computation(grid, tmp_path):
    rec = render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    table = pd.DataFrame(rec["raw"]["table"]).set_index(["condition", "method"])
    for m, by in DICE.items():
        for c, v in by.items():
            v = np.array(v)
            row = table.loc[(c, m)]
            assert row.runs == 3 and row.dice_mean == pytest.approx(v.mean())
            assert row.dice_std == pytest.approx(v.std(ddof=1))
            assert [row.dice_ci_lo, row.dice_ci_hi] == pytest.approx(_t_interval(v))
            assert row.hd95_mean == pytest.approx(10 * (1 - v.mean()))
    assert table.loc[("1.00", "cim"), "dice_mean"] == pytest.approx(0.753333, abs=1e-6)
    diffs = {(d["condition"], d["b"]): d for d in rec["raw"]["differences"]}
    assert len(diffs) == 8  # 4 conditions x 2 contrasts
    for c in ("expert", "0.00", "0.50", "1.00"):
        for b in ("pce_selfdice", "dmpls"):
            per = np.array(DICE["cim"][c]) - np.array(DICE[b][c])
            d = diffs[(c, b)]
            assert d["a"] == "cim" and d["pairs"] == 3 and d["per_seed"] == pytest.approx(list(per))
            assert d["mean"] == pytest.approx(per.mean()) and d["ci95"] == pytest.approx(_t_interval(per))
    slopes = {s["method"]: s for s in rec["raw"]["slopes"]}
    for m, by in DICE.items():  # the seed is the unit: a slope per seed, then a t-interval over the 3 seeds
        per = np.array([_ls(X, np.array([by[lv][k] for lv in ("0.00", "0.50", "1.00")]))[0] for k in range(3)])
        assert slopes[m]["n"] == 3 and slopes[m]["runs"] == 9 and slopes[m]["per_seed"] == pytest.approx(list(per))
        assert slopes[m]["slope"] == pytest.approx(per.mean()) and slopes[m]["ci95"] == pytest.approx(_t_interval(per))
    assert slopes["cim"]["slope"] == pytest.approx(-0.08 / 3)
    assert slopes["pce_selfdice"]["slope"] == pytest.approx(-0.07)
    sd = {d["b"]: d for d in rec["raw"]["slope_differences"]}
    for b in ("pce_selfdice", "dmpls"):
        per = np.array([_ls(X, np.array([DICE["cim"][lv][k] for lv in ("0.00", "0.50", "1.00")]))[0]
                        - _ls(X, np.array([DICE[b][lv][k] for lv in ("0.00", "0.50", "1.00")]))[0] for k in range(3)])
        assert sd[b]["per_seed"] == pytest.approx(list(per)) and sd[b]["ci95"] == pytest.approx(_t_interval(per))
        assert sd[b]["metric"] == "dice slope" and sd[b]["a_better"] == int((per > 0).sum())
    assert rec["scribble_seeds"] == {"1": 0, "2": 1, "3": 2} and rec["missing"] == []
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "| matched-centreline inc 1.00 | cim | 3 | 0.753 ± 0.025 |" in md and "30 of 36 planned" not in md
    assert "| training scribbles | method | LV | MYO | RV |" in md  # per structure (each toy class = the mean)
    assert "| matched-centreline inc 1.00 | cim | 0.753 ± 0.025 | 0.753 ± 0.025 | 0.753 ± 0.025 |" in md
    assert "not measured (no `acdc/toy/robustness_matched_coverage.csv`" in md
    assert (tmp_path / "figures" / "acdc_toy_robustness_seeds.png").stat().st_size > 1000


def test_gap_of_the_simulated_base_to_the_experts(grid, tmp_path):
    """Per method, level 0 − expert paired by seed, by hand; in the record and the markdown."""
    rec = render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    gaps = {g["method"]: g for g in rec["raw"]["base_gaps"]}
    assert list(gaps) == ["pce_selfdice", "dmpls", "cim"]
    for m, g in gaps.items():
        per = np.array(DICE[m]["0.00"]) - np.array(DICE[m]["expert"])
        assert (g["a"], g["b"], g["pairs"]) == ("0.00", "expert", 3)
        assert g["per_seed"] == pytest.approx(per) and g["mean"] == pytest.approx(per.mean())
        if per.std() > 0:
            assert g["ci95"] == pytest.approx(_t_interval(per))
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "| method | metrics | pairs | matched-centreline inc 0.00 − expert | 95 % CI | sd |" in md
    assert "| pce_selfdice | raw | 3 | -0.017 | [-0.031, -0.002] | 0.006 |" in md


def test_change_from_the_lowest_level_per_method_and_of_each_gap(grid, tmp_path):
    """Level L - level 0 per method, and (a - b at L) - (a - b at 0) per contrast, paired by seed, by hand."""
    rec = render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    changes = {(c["of"], c["a"]): c for c in rec["raw"]["level_changes"]}
    assert len(changes) == 2 * 5  # levels 0.50 and 1.00 x (3 methods + 2 contrasts)
    for lv in ("0.50", "1.00"):
        for m in DICE:
            per = np.array(DICE[m][lv]) - np.array(DICE[m]["0.00"])
            c = changes[(m, lv)]
            assert (c["b"], c["pairs"]) == ("0.00", 3) and c["per_seed"] == pytest.approx(list(per))
            assert c["mean"] == pytest.approx(per.mean()) and c["a_better"] == int((per > 0).sum())
        for b in ("pce_selfdice", "dmpls"):
            per = ((np.array(DICE["cim"][lv]) - np.array(DICE[b][lv]))
                   - (np.array(DICE["cim"]["0.00"]) - np.array(DICE[b]["0.00"])))
            c = changes[(f"cim − {b}", lv)]
            assert c["per_seed"] == pytest.approx(list(per)) and c["ci95"] == pytest.approx(_t_interval(per))
    assert changes[("cim − pce_selfdice", "1.00")]["mean"] == pytest.approx(0.07 - 0.08 / 3)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "| method or contrast | metrics | level | pairs | change from matched-centreline inc 0.00 |" in md
    assert "| pce_selfdice | raw | 1.00 | 3 | -0.070 | [-0.095, -0.045] | 0.010 | 0/3 |" in md


def test_bank_purity_of_the_matching_runs_per_condition(grid, tmp_path):
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "| training scribbles | runs | iterations | RV | MYO | LV |" in md
    assert "| expert | 3 | 10, 10, 10 | 0.96 ± 0.01 | 0.96 ± 0.01 |" in md
    assert "| matched-centreline inc 1.00 | 3 | 10, 10, 10 | 0.71 ± 0.01 |" in md


def test_post_processed_beside_raw(grid, tmp_path):
    rec = render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    csv = pd.read_csv(tmp_path / "tables" / "acdc_toy_robustness_seeds.csv")
    if "post-processed" not in rec:  # the summaries carry no post-processed metrics
        assert "no run has post-processed metrics" in md and set(csv.metrics) == {"raw"}
        return
    head = next(line for line in md.splitlines() if line.startswith("| training scribbles | method"))
    assert head.index("| Dice |") < head.index("| Dice post-processed |") < head.index("| HD95 (mm) |")
    assert list(dict.fromkeys(csv.metrics)) == ["raw", "post-processed"]  # raw rows first
    assert "| expert | cim | 3 | 0.800 ± 0.020 | 0.900 ± 0.020 |" in md
    assert "| expert | dmpls | 3 | 0.710 ± 0.010 | n/a |" in md  # dmpls has no post-processed metrics
    post = {(d["condition"], d["b"]): d for d in rec["post-processed"]["differences"]}
    assert set(b for _, b in post) == {"pce_selfdice"}  # dmpls: nothing to pair with
    per = np.array(DICE["cim"]["0.50"]) - np.array(DICE["pce_selfdice"]["0.50"]) + 0.1
    assert post[("0.50", "pce_selfdice")]["mean"] == pytest.approx(per.mean())
    lines = [(i, line) for i, line in enumerate(md.splitlines()) if line.startswith(("| expert", "| matched"))]
    raw_rows = [i for i, line in lines if "| cim − pce_selfdice | raw |" in line]
    post_rows = [i for i, line in lines if "| cim − pce_selfdice | post-processed |" in line]
    assert raw_rows and post_rows and max(raw_rows) < min(post_rows)


def test_figure_shows_every_run_inside_the_axes(grid):
    """Each simulated run is a dot beside its method's mean and interval; with runs at one level only (a grid
    under way) every point still lies inside the axes."""
    from scribcim.report.robustness_seeds_stats import analyse
    from scribcim.viz.methods import plot_robustness_seeds
    for keep in (None, "0.00"):
        found = [r for r in read_grid(grid, SECTION)[0] if keep is None or r["level"] in (None, keep)]
        res = analyse(found)
        table = pd.concat([r["table"] for r in res.values()], ignore_index=True)
        runs = pd.concat([r["runs"].assign(metrics=w) for w, r in res.items()], ignore_index=True)
        fig = plot_robustness_seeds(table, runs=runs)
        for ax, what in zip(fig.axes, dict.fromkeys(table.metrics)):
            dots = np.vstack([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
            sim = runs[(runs.metrics == what) & runs.level.notna() & (runs.structure == "mean")]
            assert len(dots) == len(sim)
            assert sorted(dots[:, 1]) == pytest.approx(sorted(sim.dice))
            lo, hi = ax.get_xlim()
            assert lo < dots[:, 0].min() and dots[:, 0].max() < hi
            assert all(lo + 0.05 < x < hi - 0.05 for x in ax.get_xticks())  # each level's tick well inside
        plt.close(fig)


def test_redraw_changes_nothing_and_missing_runs_are_listed(grid, tmp_path):
    out = (tmp_path / "tables", tmp_path / "figures")
    render_robustness_seeds(grid, *out, SECTION)
    files = sorted(p for d in out for p in d.iterdir())
    before = {p: p.read_bytes() for p in files}
    render_robustness_seeds(grid, *out, SECTION)
    assert {p: p.read_bytes() for p in files} == before
    gone = grid / seed_run_path(SECTION, {"method": "dmpls", "seed": 3, "level": "1.00", "scribble_seed": 2})
    (gone / "summary.json").unlink()
    found, missing = read_grid(grid, SECTION)
    assert len(found) == 35 and missing == [f"{gone.relative_to(grid).as_posix()}/summary.json"]
    rec = render_robustness_seeds(grid, *out, SECTION)
    slope = next(s for s in rec["raw"]["slopes"] if s["method"] == "dmpls")
    assert (slope["runs"], slope["n"]) == (8, 3) and "35 of 36 planned runs" in (out[0] / "acdc_toy_robustness_seeds.md").read_text()


def test_a_summary_in_the_wrong_folder_is_refused(grid):
    path = grid / seed_run_path(SECTION, {"method": "cim", "seed": 1, "level": "0.50", "scribble_seed": 0})
    s = json.loads((path / "summary.json").read_text())
    s["provenance"]["config"]["scribble_seed"] = 5
    (path / "summary.json").write_text(json.dumps(s))
    with pytest.raises(DataError, match="scribble seed 5"):
        read_grid(grid, SECTION)


def test_coverage_csv_is_shown(grid, tmp_path):
    rows = [{"base": "matched-centreline", "level": lv, "scribble_seed": s, "class": c, "coverage_pct": 5.0 + lv,
             "relative_to_level0": (5.0 + lv) / 5.0} for lv in (0.0, 0.5, 1.0) for s in (0, 1, 2)
            for c in ("RV", "MYO", "LV")]
    pd.DataFrame(rows).to_csv(grid / "acdc" / "toy" / "robustness_matched_coverage.csv", index=False)
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "`acdc/toy/robustness_matched_coverage.csv`" in md and "| 1.00 | 6.00 (1.200) |" in md
    assert "FAIL RV: largest deviation from level 0 20.0%" in md and "Expert scribbles" not in md
    (grid / "acdc" / "toy" / "robustness_matched_coverage.json").write_text(json.dumps(
        {"expert_coverage_pct": {"BG": 0.5, "RV": 9.75, "MYO": 13.0, "LV": 9.5}}))
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "Expert scribbles of the same volumes, for reference: BG 0.50 %, RV 9.75 %, MYO 13.00 %, LV 9.50 %" in md


def test_geometry_of_the_grid_levels_and_seeds_is_shown(grid, tmp_path):
    """The geometry record's rows of the section's levels and scribble seeds (and the members) are summarised; a
    level or seed the grid did not train on is left out; no record, no section."""
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    assert "Where those scribbles lie" not in (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    rows = [{"scope": "level", "name": f"{lv:.2f}", "scribble_seed": s, "class": c, "slices_marked_pct": 90.0 - 10 * lv,
             "depth_mm": 3.0 + s, "pixels": 10} for lv in (0.0, 0.25, 0.5, 1.0) for s in (0, 1, 2, 7)
            for c in ("BG", "RV", "MYO", "LV")]
    rows += [{"scope": "member", "name": "matched-free", "scribble_seed": s, "class": c, "slices_marked_pct": 50.0,
              "depth_mm": 1.0, "pixels": 5} for s in (0, 1, 2) for c in ("BG", "RV", "MYO", "LV")]
    pd.DataFrame(rows).to_csv(grid / "acdc" / "toy" / "robustness_matched_geometry.csv", index=False)
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "`acdc/toy/robustness_matched_geometry.csv`" in md
    assert "| 1.00 | 80.0 ± 0.0 | 80.0 ± 0.0 | 80.0 ± 0.0 | 4.0 ± 1.0 | 4.0 ± 1.0 |" in md  # seed 7 left out
    assert "| 0.25 |" not in md and "| `matched-free` | 50.0 ± 0.0 |" in md


def test_python_m_entry_reads_the_config(grid, tmp_path, capsys):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"results_root": str(grid), "figures_dir": str(tmp_path / "figs"),
                                   "robustness_seeds": SECTION}))
    assert main(["--config", str(cfg)]) == 0
    assert "cim − pce_selfdice" in capsys.readouterr().out
    assert (grid / "tables" / "acdc_toy_robustness_seeds.json").is_file()
    assert (tmp_path / "figs" / "acdc_toy_robustness_seeds.png").is_file()


def test_python_m_entry_takes_the_section_as_the_snakefile_passes_it(grid, tmp_path):
    args = ["--section", json.dumps(SECTION), "--results", str(grid), "--tables", str(tmp_path / "t"),
            "--figures", str(tmp_path / "f")]
    assert main(args) == 0
    assert (tmp_path / "t" / "acdc_toy_robustness_seeds.md").is_file()
    assert (tmp_path / "f" / "acdc_toy_robustness_seeds.png").is_file()


def test_notebook_07_runs_the_report_with_the_profile_as_a_parameter(tmp_path):
    """notebooks/07_robustness (papermill): the section's profile overridden by the ``profile`` parameter; the
    table and the figure (with intervals) are written and shown."""
    import nbformat
    from scribcim.notebook.execute import execute, has_outputs, notebook_path, parameters_of
    assert not has_outputs(notebook_path("07_robustness"))
    assert set(parameters_of(notebook_path("07_robustness"))) == {"config", "profile", "results_root", "tables_dir",
                                                                   "figures_dir", "checkpoint"}
    results = _write_grid(tmp_path / "results", post=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"results_root": "nowhere", "robustness_seeds": {**SECTION, "profile": "other"}}))
    out = execute("07_robustness", tmp_path / "07.ipynb", {
        "config": str(cfg), "profile": "toy", "results_root": str(results), "tables_dir": str(tmp_path / "t"),
        "figures_dir": str(tmp_path / "f")})
    cells = nbformat.read(out, as_version=4).cells
    shown = "".join(o.get("data", {}).get("text/markdown", "") for c in cells if c.cell_type == "code"
                    for o in c.outputs)
    assert "cim − pce_selfdice" in shown and "36 of 36 planned runs present" in shown and "post-processed" in shown
    assert any("image/png" in o.get("data", {}) for c in cells if c.cell_type == "code" for o in c.outputs)
    assert (tmp_path / "f" / "acdc_toy_robustness_seeds.png").is_file()
    assert (tmp_path / "t" / "acdc_toy_robustness_seeds.md").is_file()


def test_doc_block_renders_the_robustness_record(grid, tmp_path):
    from scribcim.report.doc_blocks import update
    rec = render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    page = tmp_path / "robustness.md"
    page.write_text("text\n<!-- robustness-seeds acdc_toy -->\n<!-- /robustness-seeds -->\nmore\n")
    assert update(page, tmp_path / "tables") is False and update(page, tmp_path / "tables") is True
    md = page.read_text()
    assert "| method | Dice | expert scribbles | inconsistency 0.00 | inconsistency 0.50 | inconsistency 1.00 |" in md
    assert ("| `cim` | raw | 0.800 ± 0.020 (3) | 0.780 ± 0.020 (3) | 0.770 ± 0.030 (3) | 0.753 ± 0.025 (3) | "
            "-0.027 [") in md
    assert ("| `cim` | post-processed |" in md) == ("post-processed" in rec)
    d = {(x["b"], x["condition"]): x for x in rec["raw"]["differences"]}[("pce_selfdice", "1.00")]
    assert "| `cim` − `pce_selfdice` | raw | " in md and f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}" in md
    assert md.index("`cim` − `pce_selfdice` | raw") < md.index("`cim` − `dmpls` | raw")
    assert md.startswith("text\n<!-- robustness-seeds acdc_toy -->\n")
    assert md.endswith("<!-- /robustness-seeds -->\nmore\n")


def test_provenance_is_the_tree_before_the_report_wrote(grid, tmp_path, monkeypatch):
    """Re-rendering over committed outputs in a clean work tree records ``dirty: false``: the git state is taken
    before the report writes its own files (which then differ from the committed ones)."""
    import subprocess
    repo = tmp_path / "repo"
    tables = repo / "tables"
    tables.mkdir(parents=True)
    (tables / "acdc_toy_robustness_seeds.md").write_text("an older report\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "old"], check=True)
    monkeypatch.chdir(repo)
    rec = render_robustness_seeds(grid, tables, repo / "figures", SECTION)
    assert rec["git"]["dirty"] is False
    assert subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                          check=True).stdout.strip()  # the report did change the committed file


def test_one_level_so_far_reads_n_a_not_nan(grid, tmp_path):
    """A grid under way with one level only: the slopes are undefined and say so (no ``nan`` in the tables)."""
    for run in seed_grid(SECTION):
        if run["level"] not in (None, "0.00"):
            (grid / seed_run_path(SECTION, run) / "summary.json").unlink()
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    md = (tmp_path / "tables" / "acdc_toy_robustness_seeds.md").read_text()
    assert "nan" not in md.lower() and "| cim | raw | 3 | 0 | n/a | n/a |" in md
    assert "Fewer than two levels with runs: no change to show." in md


def test_doc_block_of_a_level_with_one_run_shows_its_value(grid, tmp_path):
    """One run in a cell: its sd is null in the JSON record; the doc block shows the value alone (no crash)."""
    from scribcim.report.doc_blocks import update
    for run in seed_grid(SECTION):
        if run["level"] == "1.00" and run["seed"] != SECTION["seeds"][0]:
            (grid / seed_run_path(SECTION, run) / "summary.json").unlink()
    render_robustness_seeds(grid, tmp_path / "tables", tmp_path / "figures", SECTION)
    page = tmp_path / "robustness.md"
    page.write_text("<!-- robustness-seeds acdc_toy -->\n<!-- /robustness-seeds -->\n")
    assert update(page, tmp_path / "tables") is False
    assert "| 0.750 (1) |" in page.read_text() and "6 planned runs missing" in page.read_text()
