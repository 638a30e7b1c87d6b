"""scribcim.analysis.error_bands: errors by distance from the reference boundary, their tables, figure, command."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from scribcim.analysis import error_bands as eb
from scribcim.evaluate.metrics import fast_dice
from scribcim.viz.error_bands import plot_error_bands

SPACING = (10.0, 1.5, 1.5)  # mm (z, y, x): one voxel is 0.0225 ml
VOXEL_ML = 0.0225


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """LV (3) on slices 1-3 ringed by MYO (2); the prediction grows MYO one voxel into the LV on slice 1, adds a far
    LV blob on slice 2 and LV on slice 0, where the reference has no LV."""
    label = np.zeros((4, 40, 40), np.uint8)
    label[1:4, 8:24, 8:24] = 2
    label[1:4, 10:22, 10:22] = 3
    pred = label.copy()
    pred[1, 10, 10:22] = 2           # 12 LV voxels predicted MYO, on the LV's boundary: LV FN, MYO FP, <= 2 mm
    pred[2, 32:35, 32:35] = 3        # 9 LV voxels far from the LV (10+ voxels): LV FP, > 5 mm
    pred[0, 14:16, 14:16] = 3        # 4 LV voxels on a slice without LV: LV FP, other slice
    return pred, label


def _row(rows: list[dict], cls: str) -> dict:
    return next(r for r in rows if r["class"] == cls)


def test_errors_fall_in_their_distance_band_and_split_by_label():
    pred, label = _scene()
    rows = eb.band_errors(pred, label, SPACING)
    lv, myo, rv = _row(rows, "LV"), _row(rows, "MYO"), _row(rows, "RV")
    assert lv["fn"] == 12 and lv["fn <= 2 mm"] == pytest.approx(12 * VOXEL_ML)
    assert lv["fn 2-5 mm"] == lv["fn > 5 mm"] == 0
    assert lv["fp"] == 13 and lv["fp > 5 mm"] == pytest.approx(9 * VOXEL_ML)
    assert lv["fp other slice"] == pytest.approx(4 * VOXEL_ML) and lv["fp <= 2 mm"] == 0
    assert myo["fp"] == 12 and myo["fp <= 2 mm"] == pytest.approx(12 * VOXEL_ML) and myo["fn"] == 0
    # the split by label: MYO's FPs lie where the reference says LV; LV's FNs were predicted MYO
    assert myo["fp on LV"] == pytest.approx(12 * VOXEL_ML) and myo["fp on BG"] == 0 and np.isnan(myo["fp on MYO"])
    assert lv["fn as MYO"] == pytest.approx(12 * VOXEL_ML) and lv["fp on BG"] == pytest.approx(13 * VOXEL_ML)
    for r in rows:  # the split adds up to the kinds' totals, and the bands do too
        for kind, word in (("fp", "on"), ("fn", "as")):
            total = r[kind] * VOXEL_ML
            assert np.nansum([r[f"{kind} {word} {n}"] for n in eb.LABELS]) == pytest.approx(total)
            assert sum(r.get(f"{kind} {b}", 0.0) for b in eb.BANDS) == pytest.approx(total)
    assert rv["fp"] == rv["fn"] == 0 and rv["ref_ml"] == 0 and np.isnan(rv["dice"])
    assert [r["dice"] for r in rows[1:]] == pytest.approx(list(fast_dice(pred, label)[1:]))  # MYO, LV


def test_boundary_band_is_in_millimetres_not_voxels():
    """At 3 mm per voxel a one-voxel boundary error lies 3 mm out: band 2-5 mm, not <= 2 mm."""
    pred, label = _scene()
    lv = _row(eb.band_errors(pred, label, (10.0, 3.0, 3.0)), "LV")
    assert lv["fn <= 2 mm"] == 0 and lv["fn 2-5 mm"] == pytest.approx(12 * 0.09)


def _toy_rows() -> pd.DataFrame:
    """Rows of two methods: ``cim`` at seeds 1-3 with 1 ml more FN <= 2 mm in LV than ``full`` (seeds 1, 2, 4)."""
    pred, label = _scene()
    base = eb.band_errors(pred, label, SPACING)
    rows = []
    for method, seeds, extra in (("cim", (1, 2, 3), 1.0), ("full", (1, 2, 4), 0.0)):
        for seed in seeds:
            for what in ("raw", "post"):
                for case in ("a", "b"):
                    for r in base:
                        r = dict(r)
                        if r["class"] == "LV":
                            r["fn <= 2 mm"] += extra + 0.1 * seed
                            r["fn as MYO"] += extra + 0.1 * seed
                        rows.append({"method": method, "seed": seed, "what": what, "case": case,
                                     "summary_dice": r["dice"], **r})
    return pd.DataFrame(rows)


def test_tables_pair_seeds_and_find_the_extra_errors():
    rows = _toy_rows()
    assert eb.dice_check(rows) == 0.0
    means = eb.run_means(rows)
    assert len(means) == 2 * 2 * 3 * 3  # what x method x seed x class
    table = eb.seed_table(means)
    cim_lv = table[(table.what == "raw") & (table.method == "cim") & (table["class"] == "LV")].iloc[0]
    assert cim_lv.runs == 3 and cim_lv["fn <= 2 mm std"] == pytest.approx(0.1)
    diffs = eb.differences(means, "full")
    d = {(x["what"], x["class"], x["column"]): x for x in diffs}
    fn = d["raw", "LV", "fn <= 2 mm"]
    assert fn["seeds"] == [1, 2] and fn["pairs"] == 2 and fn["mean"] == pytest.approx(1.0)
    assert d["raw", "LV", "error"]["mean"] == pytest.approx(1.0)
    assert d["raw", "LV", "fn as MYO"]["mean"] == pytest.approx(1.0)
    assert ("raw", "LV", "fn as LV") not in d and d["raw", "MYO", "error"]["mean"] == pytest.approx(0.0)
    assert eb.differences(means, "dmpls") == []  # no runs of it: nothing to pair with
    md = "\n".join(eb.bands_markdown(table, diffs, "full"))
    assert md.index("Raw:") < md.index("Post-processed") and "each method − `full`" in md
    assert "| `cim` | LV | +1.00 [" in md
    fig = plot_error_bands(table, eb.BANDS)
    assert len(fig.axes) == 6
    plt.close(fig)
    rows.loc[(rows.method == "cim") & (rows.case == "b") & (rows["class"] == "MYO"), "fp <= 2 mm"] += 5.0
    seed, cases = eb.typical_cases(rows, "cim", "full", 1)  # seeds 1, 2 both ran: the first; volume a is median
    assert seed == 1 and cases == ["a"] and eb.typical_cases(rows, "cim", "full", 3)[1] == ["a", "b"]
    assert eb.typical_cases(rows, "cim", "dmpls", 1) == (None, [])


def test_summary_dice_mismatch_is_measured():
    rows = _toy_rows()
    first = rows.index[rows["class"] == "LV"][0]
    rows.loc[first, "summary_dice"] = rows.loc[first, "dice"] + 0.01
    assert eb.dice_check(rows) > eb.DICE_ATOL


def test_command_line_on_a_trained_phantom_run(phantom_run, tmp_path, capsys):
    from scribcim.errors import DataError
    from scribcim.evaluate.summary import evaluate
    run, cim = phantom_run("pce"), phantom_run("cim")
    with pytest.raises(DataError, match="evaluate the run first"):
        eb.main([str(run), "--out", str(tmp_path / "x")])
    for r in (run, cim):
        evaluate(r, checkpoints=("best",), progress=False)
    with pytest.raises(SystemExit):  # a figure's provenance JSON would replace the record
        eb.main([str(run), "--out", str(tmp_path / "eb"), "--figure", str(tmp_path / "eb.png")])
    assert "would overwrite the record" in capsys.readouterr().err
    eb.main([str(run), str(cim), "--out", str(tmp_path / "eb"), "--figure", str(tmp_path / "fig.png"),
             "--against", "pce"])
    rec = json.loads((tmp_path / "eb.json").read_text())
    assert rec["dice_check"] <= eb.DICE_ATOL  # the predictions are the ones the summary scored
    assert rec["provenance"]["config"]["runs"] and len(rec["training_commits"]) == 1
    means = pd.read_csv(tmp_path / "eb.csv")  # one row per what, run and class
    assert len(means) == 2 * 2 * 3 and set(means.what) == {"raw", "post"} and set(means["class"]) == {"RV", "MYO", "LV"}
    assert rec["stem"] == "eb" and rec["dataset"] == "phantom" and rec["profiles"] == ["smoke"] and rec["cases"] >= 1
    assert "| method | class | runs | all errors |" in capsys.readouterr().out
    assert (tmp_path / "fig.png").is_file() and (tmp_path / "eb.md").is_file()
    prov = json.loads((tmp_path / "fig_examples.json").read_text())  # volumes at quantiles of cim's extra error
    assert prov["examples"]["method"] == "cim" and prov["examples"]["seed"] == 2022 and prov["examples"]["cases"]
    assert (tmp_path / "fig_examples.png").is_file()


def test_rows_kept_beside_the_run_are_reused_until_the_run_or_the_code_changes(phantom_run, tmp_path, monkeypatch):
    from scribcim.analysis import error_bands_cache as cache
    from scribcim.evaluate.summary import evaluate
    run = phantom_run("pce")
    evaluate(run, checkpoints=("best",), progress=False)
    import scribcim.provenance as provenance
    seen, real = [], provenance.provenance

    def watched(*args, **kwargs):  # the provenance is taken before the command writes its outputs
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        return real(*args, **kwargs)
    monkeypatch.setattr(provenance, "provenance", watched)
    eb.main([str(run), "--out", str(tmp_path / "a")])
    assert seen == [[]]
    kept = run / "error_bands_best.json"
    assert kept.is_file()
    calls = []
    measure = eb.run_error_bands

    def counted(*args, **kwargs):
        calls.append(args[0])
        return measure(*args, **kwargs)
    monkeypatch.setattr(eb, "run_error_bands", counted)
    eb.main([str(run), "--out", str(tmp_path / "b")])  # from the kept rows: the same record, nothing measured
    assert calls == [] and (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "a.md").read_text() == (tmp_path / "b.md").read_text()
    eb.main([str(run), "--out", str(tmp_path / "c"), "--fresh"])  # asked to measure again
    assert len(calls) == 1 and (tmp_path / "c.csv").read_text() == (tmp_path / "a.csv").read_text()
    kept.write_text(kept.read_text()[:50])  # cut short by an interruption: measured again, rewritten whole
    eb.main([str(run), "--out", str(tmp_path / "d")])
    code = eb.__file__
    assert len(calls) == 2 and json.loads(kept.read_text())["key"] == cache.cache_key(run, "best", None, code)
    summary = run / "summary.json"  # evaluated again (a new summary): measured again
    summary.write_text(summary.read_text() + "\n")
    eb.main([str(run), "--out", str(tmp_path / "e")])
    assert len(calls) == 3
    assert cache.cache_key(run, "best", None, tmp_path / "a.md") != json.loads(kept.read_text())["key"]  # other code


def test_docs_block_renders_the_extra_errors_and_the_largest_confusion(tmp_path):
    from scribcim.report import doc_blocks
    from scribcim.report.error_bands_block import error_bands_block
    from scribcim.runs.log import write_json
    means = eb.run_means(_toy_rows())
    record = {"stem": "acdc_p6k_error_bands", "dataset": "acdc", "profiles": ["p6k"], "checkpoint": "best",
              "against": "full", "cases": 2, "differences": eb.differences(means, "full"), "dice_check": 0.0, "training_commits": ["abcdef012345"]}
    body = error_bands_block(record)
    row = next(line for line in body.splitlines() if line.startswith("| `cim` | LV |"))
    # cim's extra LV error is 1 ml of FN predicted MYO, all within 2 mm: every column says so
    assert row.count("+1.00 [") == 4 and "`LV` of the reference predicted `MYO`: +1.00 [" in row
    assert "`full` |" not in body and "`results/tables/acdc_p6k_error_bands.json`" in body and "abcdef0" in body
    write_json(tmp_path / "acdc_p6k_error_bands.json", record)
    page = tmp_path / "page.md"
    page.write_text("x\n<!-- error-bands acdc_p6k -->\nstale\n<!-- /error-bands -->\n")
    assert not doc_blocks.update(page, tmp_path) and doc_blocks.update(page, tmp_path, write=False)
    assert body in page.read_text()
