"""The ablation table across seeds (issue 30) on toy summaries: conditions keyed by ablation name, paired by seed
with the grid's cim and pce_selfdice, resolution against the paper's differences, bank purity per condition."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from scribcim.config.ablations import ABLATIONS
from scribcim.errors import DataError
from scribcim.report.ablation_seeds import ablation_study, render_ablation, resolution_rows

CLASSES = ("RV", "MYO", "LV")
SEEDS = (1, 2, 3, 4, 5)
MAIN = {"cim": [0.84, 0.85, 0.83, 0.84, 0.86], "pce_selfdice": [0.83, 0.84, 0.83, 0.82, 0.85],
        "cim_paper": [0.82, 0.84, 0.83, 0.83, 0.84]}
ABL = {"no_banks": [0.83, 0.85, 0.82, 0.84, 0.85], "no_tokens": [0.84, 0.84, 0.83, 0.85, 0.86]}


def _summary(method: str, seed: int, dice: float, **settings) -> dict:
    cls = {c: {"dice": dice, "hd95": 20 * (1 - dice), "asd": 1.0, "empty_pred": False} for c in CLASSES}
    case = {"case": "c0", "classes": cls, "foreground_mean": {"dice": dice, "hd95": 20 * (1 - dice), "asd": 1.0}}
    best = {"iteration": 10, "cases": [case], "bank_purity": {c: 0.8 for c in CLASSES},
            "bank_shared": {c: 0.0 for c in CLASSES}}
    return {"method": method, "dataset": "acdc", "fold": 1, "profile": "toy", "seed": seed,
            "checkpoints": {"best": best},
            "provenance": {"config": {"scribbles": "expert", "method": method, **settings},
                           "train": {"git": {"commit": "abc1234"}}}}


@pytest.fixture
def toy(tmp_path):
    root = tmp_path / "results" / "acdc" / "toy"
    for method, dice in MAIN.items():
        for seed, d in zip(SEEDS, dice):
            (f := root / method / "fold1" / f"seed{seed}").mkdir(parents=True)
            (f / "summary.json").write_text(json.dumps(_summary(method, seed, d)))
    for name, dice in ABL.items():
        for seed, d in zip(SEEDS, dice):
            (f := root / "ablation" / name / "fold1" / f"seed{seed}").mkdir(parents=True)
            (f / "summary.json").write_text(json.dumps(_summary("cim", seed, d, **ABLATIONS[name])))
    return tmp_path


def test_conditions_pair_by_seed_with_the_grid(toy):
    study = ablation_study(toy / "results", profile="toy")
    assert study["conditions"] == ["no_banks", "no_tokens", "cim_paper"] and study["runs"] == 25
    d = next(x for x in study["raw"]["differences"] if (x["a"], x["b"], x["metric"]) == ("no_banks", "cim", "dice"))
    per = np.array(ABL["no_banks"]) - MAIN["cim"]
    half = stats.t.ppf(0.975, 4) * per.std(ddof=1) / math.sqrt(5)
    assert d["per_seed"] == pytest.approx(list(per)) and d["ci95"] == pytest.approx([per.mean() - half,
                                                                                     per.mean() + half])
    assert {(x["a"], x["b"]) for x in study["raw"]["differences"]} == {
        (c, r) for c in ("no_banks", "no_tokens", "cim_paper") for r in ("cim", "pce_selfdice")}
    assert "post" not in study  # no post-processed metrics in this toy


def test_resolution_says_whether_the_papers_difference_is_inside(toy):
    study = ablation_study(toy / "results", profile="toy")
    res = {r["condition"]: r for r in study["raw"]["resolution"]}
    nb = res["no_banks"]
    assert nb["paper"] == pytest.approx(-0.008) and nb["includes_paper"] == (nb["ci95"][0] <= -0.008 <= nb["ci95"][1])
    assert nb["half_width"] == pytest.approx((nb["ci95"][1] - nb["ci95"][0]) / 2)
    assert res["cim_paper"]["paper"] is None and res["cim_paper"]["includes_paper"] is None
    far = resolution_rows([{"a": "no_tokens", "b": "cim", "metric": "dice", "pairs": 5, "mean": 0.05,
                            "ci95": [0.04, 0.06]}])[0]
    assert far["includes_paper"] is False and far["excludes_zero"] is True


def test_purity_per_condition_leaves_out_runs_without_banks(toy):
    purity = ablation_study(toy / "results", profile="toy")["purity"]
    assert set(purity.method) == {"cim", "cim_paper", "no_tokens"}


def test_render_writes_table_record_and_figure(toy):
    render_ablation(toy / "results", toy / "tables", toy / "figures", profile="toy")
    md = (toy / "tables" / "acdc_toy_ablation.md").read_text()
    assert "no_banks − cim" in md and "interval includes the paper's" in md and "| `cim_paper` |" in md
    rec = json.loads((toy / "tables" / "acdc_toy_ablation.json").read_text())
    assert rec["conditions"] == ["no_banks", "no_tokens", "cim_paper"] and rec["training_commits"] == ["abc1234"]
    assert (toy / "figures" / "acdc_toy_ablation.png").stat().st_size > 10_000


def test_no_ablation_runs_names_the_command(tmp_path):
    with pytest.raises(DataError, match="`make ablation` first"):
        ablation_study(tmp_path, profile="toy")
