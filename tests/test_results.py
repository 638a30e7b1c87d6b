"""Results tables: the long case table, mean ± std, paired Wilcoxon tests, the robustness table and figure."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scribcim.config import make_config
from scribcim.errors import DataError
from scribcim.evaluate.summary import evaluate
from scribcim.report.results import case_table, mean_std_table, paired_wilcoxon
from scribcim.report.robustness import coverage_markdown, render_robustness, robustness_table, training_coverage
from scribcim.runs.paths import results_dir_for

REPO = Path(__file__).resolve().parents[1]


def test_case_table_matches_committed_summary():
    """The long table of the committed results gives back each summary's own mean and std."""
    df = case_table(REPO / "results")
    path = REPO / "results/acdc/quick/cim/fold1/seed2022/summary.json"
    s = json.loads(path.read_text())
    rows = df[df.source == "acdc/quick/cim/fold1/seed2022/summary.json"]
    assert len(rows) == len(s["checkpoints"]) * s["checkpoints"]["best"]["num_cases"] * 4
    wide = mean_std_table(df)
    cim = wide[(wide.method == "cim") & (wide.dataset == "acdc") & (wide.profile == "quick")
               & (wide.training_scribbles == "expert") & (wide.seed == 2022)]
    assert len(cim) == 1
    fg = s["checkpoints"]["best"]["foreground_mean"]["dice"]
    assert cim["mean_mean"].iloc[0] == pytest.approx(fg["mean"], abs=1e-9)
    assert cim["mean_std"].iloc[0] == pytest.approx(fg["std"], abs=1e-9)
    assert cim["mean_count"].iloc[0] == fg["n"]


def test_case_table_errors(tmp_path):
    with pytest.raises(DataError, match="no summary.json"):
        case_table(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(DataError, match="not a scribcim summary"):
        case_table(tmp_path)


def _toy(a: list[float], b: list[float]) -> pd.DataFrame:
    rows = [{"method": m, "case": f"c{i}", "dice": v, "checkpoint": "best", "structure": "mean", "dataset": "x"}
            for m, vals in (("a", a), ("b", b)) for i, v in enumerate(vals)]
    return pd.DataFrame(rows)


def test_paired_wilcoxon_against_scipy():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.6, 0.9, 12)
    b = a - rng.uniform(-0.02, 0.1, 12)
    res = paired_wilcoxon(_toy(list(a), list(b)), ["a", "b"], dataset="x").iloc[0]
    assert res.n == 12 and res.a_better_cases == int((a > b).sum())
    assert res.p_value == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert res.mean_difference == pytest.approx(float(np.mean(a - b)))
    same = paired_wilcoxon(_toy([0.5, 0.6], [0.5, 0.6]), ["a", "b"]).iloc[0]
    assert same.p_value == 1.0 and same.a_better_cases == 0
    with pytest.raises(DataError, match="no results"):
        paired_wilcoxon(_toy([0.5], [0.5]), ["a", "zzz"])
    with pytest.raises(DataError, match="several runs"):
        paired_wilcoxon(pd.concat([_toy([0.5], [0.4])] * 2), ["a", "b"])


def test_paired_wilcoxon_without_pairs_is_n_a_and_distances_count_smaller_as_better():
    """No common case: p is NaN (shown "n/a" in the table), not 1.0; for HD95/ASD a is better when smaller."""
    from scribcim.report.results_report import wilcoxon_table
    toy = _toy([0.5, 0.6], [np.nan, np.nan]).assign(fold=1, seed=7)
    none = paired_wilcoxon(toy, ["a", "b"]).iloc[0]
    assert none.n == 0 and np.isnan(none.p_value) and none.a_better_cases == 0
    _, md = wilcoxon_table(toy.replace({"a": "cim"}), reference="cim")
    assert md.splitlines()[-1] == "| 1 | 7 | cim | b | 0 | n/a | n/a | n/a | 0 | n/a |"
    dist = _toy([2.0, 3.0, 9.0], [4.0, 5.0, 1.0]).rename(columns={"dice": "hd95"})
    for metric in ("hd95", "asd", "assd"):
        res = paired_wilcoxon(dist.rename(columns={"hd95": metric}), ["a", "b"], metric=metric).iloc[0]
        assert res.a_better_cases == 2  # a's distance is the smaller in cases c0 and c1
    assert paired_wilcoxon(_toy([2.0, 3.0, 9.0], [4.0, 5.0, 1.0]), ["a", "b"]).iloc[0].a_better_cases == 1


def test_robustness_grid_on_phantom(tmp_path, phantom_run):
    """Expert + two simulated levels on the phantom: table cells and the figure come from the runs."""
    results = tmp_path / "results"
    for scribbles, inc in (("expert", 0.0), ("centreline", 0.0), ("centreline", 1.0)):
        cfg = make_config("smoke", dataset="phantom", method="pce", scribbles=scribbles, inconsistency=inc,
                          results_root=str(results))
        run = phantom_run("pce", **({} if scribbles == "expert" else {"scribbles": scribbles, "inconsistency": inc}))
        evaluate(run, checkpoints=("best",), results_dir=results_dir_for(cfg), progress=False)
    out = render_robustness(results, tmp_path / "figures", dataset="phantom", profile="smoke", methods=("pce",))
    assert out["figure"].is_file() and out["figure"].with_suffix(".json").is_file()
    text = out["table"].read_text()
    assert "| pce |" in text and "centreline inc 1.00" in text and "change 0.00 -> 1.00" in text
    df = case_table(results)
    numbers, _ = robustness_table(df[(df.structure == "mean")], ("pce",))
    assert len(numbers) == 3
    exp = df[(df.structure == "mean") & (df.training_scribbles == "expert")]["dice"].mean()
    assert f"{exp:.3f}" in text.split("| pce |")[1].split("|")[0]


def test_training_coverage_weights_each_annotator_by_the_volumes_it_drew(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"rows": [
        {"source": "expert", "coverage_pct": {"BG": 1.0, "RV": 10.0, "MYO": 12.0, "LV": 8.0}},
        {"source": "centreline", "coverage_pct": {"BG": 1.0, "RV": 4.0, "MYO": 14.0, "LV": 5.0}},
        {"source": "free", "coverage_pct": {"BG": 1.0, "RV": 16.0, "MYO": 30.0, "LV": 14.0}}]}))
    runs = {"sim0/pce": {"a": "centreline", "b": "centreline", "c": "centreline", "d": "centreline"},
            "sim1/pce": {"a": "centreline", "b": "free", "c": "free", "d": "free"}}
    for name, drawn in runs.items():
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "scribbles.json").write_text(json.dumps({"annotators": drawn}))
    cases = pd.DataFrame({"scribbles": ["expert", "centreline", "centreline", "centreline"],
                          "inconsistency": [0.0, 0.0, 1.0, 1.0],
                          "source": ["expert/pce/summary.json", "sim0/pce/summary.json", "sim1/pce/summary.json",
                                     "sim1/pce/summary.json"]})
    cov = training_coverage(cases, tmp_path, stats)
    assert list(cov.scribbles) == ["expert", "centreline", "centreline"]
    assert cov.RV.tolist() == pytest.approx([10.0, 4.0, (4.0 + 3 * 16.0) / 4])
    assert cov["mean"].iloc[0] == pytest.approx(10.0)
    assert "| centreline inc 1.00 | 13.00 |" in coverage_markdown(cov)
    assert training_coverage(cases, tmp_path, tmp_path / "missing.json") is None
    (tmp_path / "sim1/pce/scribbles.json").write_text(json.dumps({"annotators": {"a": "boundary"}}))
    assert training_coverage(cases, tmp_path, stats) is None  # an annotator without measured coverage


def test_results_report_from_committed_summaries(tmp_path):
    """Method table, Wilcoxon table and box plot for ACDC quick, with the summaries' own numbers."""
    from scribcim.report.results_report import render_results
    written = render_results(REPO / "results", tmp_path / "tables", tmp_path / "figures")
    names = {p.name for p in written}
    assert {"all_runs.csv", "acdc_quick_methods.md", "acdc_quick_wilcoxon.md", "acdc_quick_methods_box.png"} <= names
    s = json.loads((REPO / "results/acdc/quick/cim/fold1/seed2022/summary.json").read_text())
    fg = s["checkpoints"]["best"]["foreground_mean"]["dice"]
    row = next(ln for ln in (tmp_path / "tables/acdc_quick_methods.md").read_text().splitlines()
               if ln.startswith("| cim |"))
    assert f"{fg['mean']:.3f} ± {fg['std']:.3f}" in row
    assert row.endswith(" | n/a | 0 |")  # ASSD: not in summaries made before it was recorded; nothing missed
    assert "asd(pred, gt)" in (tmp_path / "tables/acdc_quick_methods.md").read_text()
    w = pd.read_csv(tmp_path / "tables/acdc_quick_wilcoxon.csv")
    assert set(w.a) == {"cim"} and "pce" in set(w.b) and (w.n == 40).all()
    m = pd.read_csv(tmp_path / "tables/acdc_quick_methods.csv")
    for seed in (2022, 2023):  # seeds are rows of their own, never pooled, and paired only within a seed
        s = json.loads((REPO / f"results/acdc/quick/cim/fold1/seed{seed}/summary.json").read_text())
        got = m[(m.method == "cim") & (m.seed == seed)].dice_mean_mean
        assert got.item() == pytest.approx(s["checkpoints"]["best"]["foreground_mean"]["dice"]["mean"])
        assert set(w[w.seed == seed].b) <= {r.method for r in m[m.seed == seed].itertuples()}


def test_unchanged_outputs_are_not_rewritten(tmp_path, monkeypatch):
    """Redrawing at another commit leaves tables, figures and their provenance alone unless they change."""
    from scribcim.report import results_report
    render_results = results_report.render_results
    render_results(REPO / "results", tmp_path / "tables", tmp_path / "figures")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(results_report, "git_state", lambda *a: {"commit": "f" * 40, "dirty": True})
    render_results(REPO / "results", tmp_path / "tables", tmp_path / "figures")
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    render_results(REPO / "results", tmp_path / "tables", tmp_path / "figures", checkpoint="last")  # new content
    for name in ("tables/acdc_quick_provenance.json", "figures/acdc_quick_methods_box.json"):
        prov = json.loads((tmp_path / name).read_text())
        assert prov["git"]["commit"] == "f" * 40 and prov["checkpoint"] == "last"


def test_box_plot_with_undefined_distances():
    """A method whose HD95 is NaN everywhere (empty predictions) still plots."""
    from scribcim.viz.methods import plot_method_boxes
    d = pd.DataFrame({"method": ["a", "a", "b", "b"], "structure": "mean", "dice": [0.1, 0.2, 0.5, 0.6],
                      "hd95": [np.nan, np.nan, 3.0, 4.0]})
    dice_ax, hd_ax = plot_method_boxes(d).axes
    assert [t.get_text() for t in dice_ax.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in hd_ax.get_xticklabels()] == ["b"]  # a has no finite HD95: no box for it
    assert not hd_ax.texts
    d["hd95"] = np.nan
    dice_ax, hd_ax = plot_method_boxes(d).axes
    assert [t.get_text() for t in dice_ax.get_xticklabels()] == ["a", "b"]
    assert [t.get_text() for t in hd_ax.texts] == ["no finite hd95 values"] and not hd_ax.patches
