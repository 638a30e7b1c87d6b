"""The comparison grid's reports beside the table: HD95 paired differences, the targets, the far-field cause."""
from __future__ import annotations

import json

import pytest

from scribcim.errors import DataError
from scribcim.report.comparison import paired_differences, render_comparison, run_means
from scribcim.report.comparison_markdown import differences_markdown
from scribcim.report.far_field import by_case, by_method, case_runs, render_far_field
from scribcim.report.results import case_table
from scribcim.report.results_report import main_runs
from scribcim.report.targets import TARGETS, Target, check, render_targets
from test_comparison import toy_post_results, toy_results  # noqa: F401  (fixtures)


def test_hd95_difference_counts_the_smaller_distance_as_better(toy_results):  # noqa: F811
    runs = run_means(main_runs(case_table(toy_results), dataset="acdc", profile="toy"))
    d = paired_differences(runs, "cim", "pce_selfdice", metric="hd95")  # toy HD95 = 10 * (1 - Dice)
    assert d["per_seed"] == pytest.approx([2 - 3, 3 - 3, 1 - 2]) and d["a_better"] == 2
    dice = paired_differences(runs, "cim", "pce_selfdice")
    assert dice["a_better"] == 2 and dice["per_seed"] == pytest.approx([0.1, 0.0, 0.1])
    md = differences_markdown([d, dice])
    assert "| cim − pce_selfdice | HD95 mean (mm) | 3 | -0.7 |" in md and "| Dice mean | 3 | +0.067 |" in md


def test_render_comparison_lists_hd95_beside_dice(toy_post_results, tmp_path):  # noqa: F811
    rec = render_comparison(toy_post_results, tmp_path / "t", tmp_path / "f", profile="toy", datasets=("acdc",))
    assert [(d["b"], d["metric"]) for d in rec["differences"]] == [
        ("pce_selfdice", "dice"), ("pce_selfdice", "hd95"), ("pce", "dice"), ("pce", "hd95")]
    # the forest plot of the differences: Dice and HD95 panels, one row per contrast, raw and post-processed
    prov = json.loads((tmp_path / "f" / "toy_differences.json").read_text())
    assert len(prov["differences"]) == 4 and len(prov["postprocessed"]) == 4
    from scribcim.viz.methods import plot_differences
    fig = plot_differences(rec["differences"], rec["postprocessed"]["differences"])
    assert len(fig.axes) == 2 and [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        "cim − pce_selfdice (acdc, 3 seeds)", "cim − pce (acdc, 3 seeds)"]
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {"raw", "post-processed"}


def _record(sd: float = 0.01, cim: float = 0.86, hd_raw: float = 25.0, hd_post: float = 6.0,
            ci: tuple[float, float] = (-0.01, 0.01)) -> dict:
    row = {"dataset": "acdc", "structure": "mean", "runs": 5}
    table = [row | {"method": m, "dice_mean": cim, "dice_std": sd, "hd95_mean": hd_raw} for m in ("cim", "dmpls")]
    post = [row | {"method": "cim", "dice_mean": cim + 0.02, "dice_std": sd, "hd95_mean": hd_post}]
    diff = {"dataset": "acdc", "a": "cim", "b": "pce_selfdice", "metric": "dice", "structure": "mean", "pairs": 5,
            "mean": sum(ci) / 2, "ci95": list(ci)}
    return {"table": table, "differences": [diff], "postprocessed": {"table": post, "differences": []}}


def test_targets_hold_fail_or_are_not_measured():
    res = {r["target"]: r for r in check(_record())}
    assert res["cim: across-seed sd of mean Dice <= 0.02"]["met"] is True
    assert res["pce_selfdice: across-seed sd of mean Dice <= 0.02"]["met"] is None  # no such runs: never "met"
    assert res["full: mean Dice >= 0.89"]["measured"] is None
    assert res["cim: mean Dice >= 0.85"]["met"] is True and res["cim: mean Dice >= 0.85"]["measured"] == 0.86
    assert res["cim: HD95 (mean over classes) <= 20 mm, raw"]["met"] is False
    assert res["cim: HD95 (mean over classes) <= 8 mm, post-processed"]["measured"] == 6.0  # the post table
    interval = [t for t in TARGETS if t.kind == "interval"]
    assert check(_record(ci=(-0.01, 0.01)), targets=interval)[0]["met"] is True   # half-width 0.01
    assert check(_record(ci=(-0.01, 0.05)), targets=interval)[0]["met"] is False  # 0.03 wide, holds zero
    assert check(_record(ci=(0.01, 0.09)), targets=interval)[0]["met"] is True    # wide but excludes zero
    assert check(_record(sd=0.03))[2]["met"] is False
    one = _record()
    one["table"][0]["runs"] = 1  # one run has no across-seed sd
    assert check(one, targets=[Target("sd", "sd", "cim", limit=0.02)])[0]["met"] is None


def test_render_targets_from_the_comparison_record(toy_results, tmp_path):  # noqa: F811
    with pytest.raises(DataError, match="scribcim.report.comparison --profile toy"):
        render_targets(tmp_path / "t", "toy")
    render_comparison(toy_results, tmp_path / "t", tmp_path / "f", profile="toy", datasets=("acdc",))
    out = render_targets(tmp_path / "t", "toy")
    md = (tmp_path / "t" / "toy_targets.md").read_text()
    assert "| cim: across-seed sd of mean Dice <= 0.02 | 0.100 | 3 | **no** |" in md
    assert "| dmpls: across-seed sd of mean Dice <= 0.02 | not measured | 0 | not measured |" in md
    assert json.loads((tmp_path / "t" / "toy_targets.json").read_text())["targets"] == out["targets"]
    from scribcim.report.doc_blocks import update
    page = tmp_path / "page.md"
    page.write_text("<!-- targets toy -->\n<!-- /targets -->\n")
    assert update(page, tmp_path / "t") is False and update(page, tmp_path / "t") is True
    assert "| cim: across-seed sd of mean Dice <= 0.02 | 0.100 | 3 | **no** |" in page.read_text()


def test_far_field_splits_case_runs_at_the_threshold(toy_post_results, tmp_path):  # noqa: F811
    summaries = [json.loads(p.read_text()) for p in sorted(toy_post_results.rglob("summary.json"))]
    cr = case_runs(summaries, "acdc", "toy")
    m = by_method(cr, threshold=2.5).set_index("method")
    # cim's case HD95 (10 * (1 - Dice)): seed1 2, 2; seed2 4, 2; seed3 1, 1 -> one case-run above 2.5 mm
    assert m.loc["cim", "far"] == 1 and m.loc["cim", "case_runs"] == 6
    assert m.loc["cim", "dice_far"] == pytest.approx(0.6) and m.loc["cim", "dice_post_far"] == pytest.approx(0.7)
    assert m.loc["cim", "dice_near"] == pytest.approx((0.8 + 0.8 + 0.8 + 0.9 + 0.9) / 5)
    assert m.loc["pce", "far_share"] == 1.0
    cases = by_case(cr, threshold=2.5).set_index("case")
    assert cases.loc["case0", "far_runs"] == 7 and cases.loc["case1", "far_runs"] == 4 and cases.index[0] == "case0"
    rec = render_far_field(toy_post_results, tmp_path / "t", tmp_path / "f", profile="toy", threshold=2.5)
    md = (tmp_path / "t" / "acdc_toy_far_field.md").read_text()
    assert "| case0 | 7/9 |" in md and "| cim | 3 | 6 | 1 (17%) | 0.600 / 0.840 |" in md
    assert rec["threshold_mm"] == 2.5 and (tmp_path / "f" / "acdc_toy_far_field.png").stat().st_size > 1000
    assert (tmp_path / "f" / "acdc_toy_far_field.json").is_file()
    with pytest.raises(DataError, match="no mscmr/toy fold-1 summaries"):
        render_far_field(toy_post_results, tmp_path / "t", tmp_path / "f", profile="toy", dataset="mscmr")


def test_committed_millimetre_runs_record_geometry_and_post_processing():
    """Every committed summary of a millimetre profile was trained in that geometry, carries post-processed metrics
    beside the raw ones, and its profile's runs were trained at one commit (one comparison)."""
    from pathlib import Path

    from scribcim.config import PROFILES
    results = Path(__file__).resolve().parents[1] / "results"
    seen = 0
    for name, prof in PROFILES.items():
        if prof.get("pixel_mm") is None:
            continue
        paths = sorted(results.glob(f"*/{name}/**/summary.json"))
        commits = set()
        for p in paths:
            s = json.loads(p.read_text())
            cfg = s["provenance"]["config"]
            assert (cfg["pixel_mm"], cfg["input_size"]) == (prof["pixel_mm"], prof["input_size"]), p
            best = s["checkpoints"]["best"]
            assert best["postprocessed"]["cases"] and best["postprocessing"]["choice"], p
            assert len(best["postprocessed"]["cases"]) == len(best["cases"]), p
            commits.add(s["provenance"]["train"]["git"]["commit"])
        assert len(commits) <= 1, (name, commits)
        seen += len(paths)
    assert seen >= 6  # the committed cpu-mm175 / cpu-mm200 runs


def test_headline_block_is_rendered_from_the_record(toy_post_results, tmp_path):  # noqa: F811
    from scribcim.report.doc_blocks import headline_block, update
    for seed in (2, 3):  # pce: one run, so no sd (null in the record)
        (toy_post_results / "acdc" / "toy" / "pce" / "fold1" / f"seed{seed}" / "summary.json").unlink()
    render_comparison(toy_post_results, tmp_path / "t", tmp_path / "f", profile="toy", datasets=("acdc",))
    block = headline_block(json.loads((tmp_path / "t" / "toy_seeds.json").read_text()))
    assert "| `pce` | 1 | 0.600 | 0.600 | 4.0 | 4.0 |" in block
    assert "| `cim` − `pce` | ACDC | +0.200 (1 seed) |" in block
    assert "| method | ACDC runs | ACDC Dice | ACDC Dice post | ACDC HD95 (mm) | ACDC HD95 post (mm) |" in block
    assert "| `cim` | 3 | 0.800 ± 0.100 | 0.867 ± 0.058 | 2.0 ± 1.0 | 1.3 ± 0.6 |" in block
    assert block.endswith("(`make comparison`; trained at abc).\n")
    # cim's run means 0.8 0.7 0.9 against pce_selfdice's 0.7 0.7 0.8: sds 0.1 and 0.0577, ratio 1.73
    assert "| `cim` − `pce_selfdice` | ACDC |" in block and "| 1.73 [" in block
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- headline toy -->\nold numbers\n<!-- /headline -->\n\nafter\n")
    assert update(readme, tmp_path / "t", write=False) is False and "old numbers" in readme.read_text()
    assert update(readme, tmp_path / "t") is False and update(readme, tmp_path / "t") is True
    text = readme.read_text()
    assert text.startswith("# x\n\n<!-- headline toy -->\n| method |")
    assert text.endswith("<!-- /headline -->\n\nafter\n")
    readme.write_text("no block")
    assert update(readme, tmp_path / "t") is True  # nothing to render
    readme.write_text("<!-- headline other -->\n<!-- /headline -->\n")
    with pytest.raises(DataError, match="comparison --profile other"):
        update(readme, tmp_path / "t")


def test_contrast_without_a_common_seed_renders_n_a(toy_post_results, tmp_path):  # noqa: F811
    """cim ran seeds 2 and 3, pce seed 1 only: their contrast has no pair, and the blocks say n/a (no crash)."""
    from scribcim.report.doc_blocks import headline_block, robustness_block
    for m, seeds in (("pce", (2, 3)), ("cim", (1,))):
        for seed in seeds:
            (toy_post_results / "acdc" / "toy" / m / "fold1" / f"seed{seed}" / "summary.json").unlink()
    render_comparison(toy_post_results, tmp_path / "t", tmp_path / "f", profile="toy", datasets=("acdc",))
    record = json.loads((tmp_path / "t" / "toy_seeds.json").read_text())
    assert any(d["b"] == "pce" and d["pairs"] == 0 for d in record["differences"])
    assert "| `cim` − `pce` | ACDC | n/a | n/a | n/a | n/a | n/a |" in headline_block(record)
    none = {"a": "cim", "b": "pce", "pairs": 0, "mean": None, "ci95": [None, None], "a_better": 0}
    rob = {"section": {"dataset": "acdc", "profile": "toy", "levels": ["0.00"], "methods": ["cim", "pce"]},
           "raw": {"table": [], "slopes": [{"method": "cim", "slope": None, "ci95": [None, None]}],
                   "differences": [none | {"condition": "0.00"}], "slope_differences": [none]}}
    assert "| `cim` − `pce` | raw | - | n/a | n/a |" in robustness_block(rob)


def test_committed_pages_match_the_committed_records():
    """The result tables in README.md and docs/*.md are the committed records', not typed by hand."""
    from pathlib import Path

    from scribcim.report.doc_blocks import pages, update
    root = Path(__file__).resolve().parents[1]
    found = pages(root)
    assert root / "README.md" in found
    for page in found:
        assert update(page, root / "results" / "tables", write=False), \
            f"{page.name} out of date: python -m scribcim.report.doc_blocks --write"
