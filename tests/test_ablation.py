"""Ablations of CIM: names, identification from the config, skipping finished runs, the table, the notebook."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from scribcim.jobs import ablation
from scribcim.config import make_config
from scribcim.errors import ConfigError, DataError
from scribcim.notebook.execute import NOTEBOOKS, execute, has_outputs, parameters_of
from scribcim.viz.methods import plot_ablations

NAMES = ["cim", "no_banks", "pce"]
FAST = dict(progress=False, num_threads=1)


def _kw(root: Path) -> dict:
    return dict(dataset="phantom", profile="smoke", fold=1, seed=2022, runs_root=str(root / "runs"),
                results_root=str(root / "results"))


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    """cim, no_banks and pce trained (4 iterations) and evaluated on the phantom."""
    root = tmp_path_factory.mktemp("ablation")
    status = ablation.run_ablations(NAMES, **_kw(root), **FAST)
    assert list(status.ablation) == NAMES and set(status.status) == {"trained"}
    return root


def _summary(root: Path, name: str) -> dict:
    return json.loads((ablation.ablation_folder(root / "results", "phantom", "smoke", name, 1, 2022)
                       / "summary.json").read_text())


def test_unknown_names_and_clashing_overrides_refused():
    with pytest.raises(ConfigError, match=r"unknown ablation\(s\) \['no_such'\]: choose from \['cim', 'no_banks'"):
        ablation.check_names(["cim", "no_such"])
    with pytest.raises(ConfigError, match="unknown ablation"):
        ablation.run_ablations(["nope"], dataset="phantom", profile="smoke")
    with pytest.raises(ConfigError, match=r"overrides \['use_banks'\]"):
        ablation.run_ablations(["cim"], dataset="phantom", profile="smoke", use_banks=False)
    assert ablation.with_reference(["cim", "cim"]) == ["cim", "pce"]
    assert ablation.with_reference(["pce", "no_tokens"], include_pce=True) == ["pce", "no_tokens"]
    assert ablation.with_reference("cim", include_pce=False) == ["cim"]


@pytest.mark.parametrize("name", list(ablation.ABLATIONS))
def test_identify_from_config(name):
    cfg = make_config("smoke", dataset="phantom", **ablation.ablation_values(name)).to_dict()
    assert ablation.identify(cfg) == name


def test_identify_unnamed_configs():
    assert ablation.identify(make_config("smoke", token_source="token").to_dict()) is None
    assert ablation.identify(make_config("smoke", bank_size=100, matching="hard").to_dict()) is None
    assert ablation.identify(make_config("smoke", method="pce_selfdice").to_dict()) is None
    assert ablation.identify(make_config("smoke", self_dice_weight=0.1).to_dict()) is None
    assert ablation.identify(make_config("smoke", method="pce", bank_size=7).to_dict()) == "pce"  # pce has no CIM
    assert ablation.identify({"method": "cim"}) == "cim"  # fields missing from an old config take the defaults


def test_run_layout_and_config(done):
    for name in NAMES:
        s = _summary(done, name)
        cfg = s["provenance"]["config"]
        assert ablation.identify(cfg) == name and s["method"] == ("pce" if name == "pce" else "cim")
        assert Path(cfg["run_dir"]) == ablation.ablation_folder(done / "runs", "phantom", "smoke", name, 1, 2022)
        assert (Path(cfg["run_dir"]) / "checkpoints" / "last.pt").is_file()
    assert _summary(done, "no_banks")["provenance"]["config"]["use_banks"] is False
    # the references in their methods' folders (one seed of a profile is one run), the ablations apart
    for name, rel in (("cim", "cim"), ("pce", "pce"), ("no_banks", "ablation/no_banks")):
        assert ablation.ablation_folder(done / "results", "phantom", "smoke", name, 1, 2022) == \
            done / "results" / "phantom" / "smoke" / rel / "fold1" / "seed2022"


def test_completed_ablations_are_skipped(done, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("should not run")
    monkeypatch.setattr(ablation, "train", boom)
    monkeypatch.setattr(ablation, "evaluate", boom)
    status = ablation.run_ablations(NAMES, **_kw(done), **FAST)
    assert list(status.status) == ["complete"] * 3
    status = ablation.run_ablations(["no_tokens"], **_kw(done), train_missing=False, **FAST)
    assert list(status.status) == ["missing"]
    with pytest.raises(ConfigError, match="different config.*max_iterations"):
        ablation.run_ablations(["cim"], **_kw(done), max_iterations=6, **FAST)


def test_finished_run_without_summary_is_only_evaluated(done, tmp_path, monkeypatch):
    shutil.copytree(done, tmp_path, dirs_exist_ok=True)
    (ablation.ablation_folder(tmp_path / "results", "phantom", "smoke", "pce", 1, 2022) / "summary.json").unlink()
    monkeypatch.setattr(ablation, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    status = ablation.run_ablations(["pce"], **_kw(tmp_path), **FAST)
    assert list(status.status) == ["evaluated"] and _summary(tmp_path, "pce")["method"] == "pce"


def test_table_deltas_from_summaries(done, tmp_path):
    table, md = ablation.ablation_table(done / "results", "phantom", "smoke", 1, 2022)
    assert list(table.ablation) == NAMES
    fg = {n: _summary(done, n)["checkpoints"]["best"]["foreground_mean"]["dice"]["mean"] for n in NAMES}
    t = table.set_index("ablation")
    for n in NAMES:
        assert t.loc[n, "dice_mean_mean"] == pytest.approx(fg[n], abs=1e-12)
        assert t.loc[n, "delta_vs_cim"] == pytest.approx(fg[n] - fg["cim"], abs=1e-12)
        assert t.loc[n, "delta_vs_pce"] == pytest.approx(fg[n] - fg["pce"], abs=1e-12)
        s = _summary(done, n)["checkpoints"]["best"]
        assert t.loc[n, "dice_LV_mean"] == pytest.approx(s["classes"]["LV"]["dice"]["mean"], abs=1e-12)
        assert t.loc[n, "dice_mean_std"] == pytest.approx(s["foreground_mean"]["dice"]["std"], abs=1e-12)
        assert t.loc[n, "hd95_mean_std"] == pytest.approx(s["foreground_mean"]["hd95"]["std"], abs=1e-9)
        assert t.loc[n, "cases"] == s["num_cases"] == 4
    rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| ablation")]
    assert [r.split(" | ")[0][2:] for r in rows] == NAMES
    no_banks = rows[1].split(" | ")
    assert no_banks[1] == "use_banks=False" and no_banks[-2] == f"{fg['no_banks'] - fg['cim']:+.3f}"
    assert rows[0].split(" | ")[-2] == "+0.000"
    only, _ = ablation.ablation_table(done / "results", "phantom", "smoke", 1, 2022, names=["no_banks"])
    assert list(only.ablation) == ["no_banks"] and only.delta_vs_cim.isna().all()
    fig = plot_ablations(table)
    paths = ablation.save_ablations(tmp_path / "out", table, md, fig, dataset="phantom")
    assert len(pd.read_csv(paths["csv"])) == 3 and paths["png"].stat().st_size > 1000
    assert paths["md"].read_text().count("\n| ") == 4
    with pytest.raises(DataError, match="no ablation summaries"):
        ablation.ablation_table(done / "results", "phantom", "smoke", 1, 7)


def test_table_names_runs_by_config_not_folder(done, tmp_path, caplog):
    shutil.copytree(done / "results", tmp_path, dirs_exist_ok=True)
    base = tmp_path / "phantom" / "smoke" / "ablation"
    (base / "no_banks").rename(base / "renamed")
    table, _ = ablation.ablation_table(tmp_path, "phantom", "smoke", 1, 2022)
    assert list(table.ablation) == NAMES
    assert "not named 'no_banks'" in caplog.text
    shutil.copytree(base.parent / "cim", base / "copy_of_cim")
    with pytest.raises(DataError, match="both ablation 'cim'"):
        ablation.ablation_table(tmp_path, "phantom", "smoke", 1, 2022)


def test_training_is_independent_of_run_order(done, tmp_path):
    """Each ablation's initialisation is seeded: no_banks alone gives what it gave after cim."""
    ablation.run_ablations(["no_banks"], **_kw(tmp_path), **FAST)
    alone = _summary(tmp_path, "no_banks")["checkpoints"]["best"]["cases"]
    after = _summary(done, "no_banks")["checkpoints"]["best"]["cases"]
    assert [c["foreground_mean"]["dice"] for c in alone] == [c["foreground_mean"]["dice"] for c in after]


def test_notebook_is_clean_and_parameterised():
    path = NOTEBOOKS / "03_ablation.ipynb"
    assert not has_outputs(path)
    params = parameters_of(path)
    assert list(params) == ["dataset", "profile", "fold", "seed", "ablations", "include_pce", "train_missing",
                            "data_root", "runs_root", "results_root", "out_dir", "overrides", "tables_dir",
                            "figures_dir"]
    assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.realdata
def test_ablation_notebook_on_acdc(real_root: Path, tmp_path: Path):
    """Smoke profile on ACDC fold 1: cim, no_tokens and pce trained, evaluated on 40 test volumes, tabulated."""
    out, names = tmp_path / "out", ["cim", "no_tokens", "pce"]
    execute("03_ablation", tmp_path / "x.ipynb", {
        "dataset": "acdc", "profile": "smoke", "ablations": names[:2], "include_pce": True, "train_missing": True,
        "data_root": str(real_root), "runs_root": str(tmp_path / "runs"), "results_root": str(tmp_path / "results"),
        "out_dir": str(out), "overrides": {"progress": False, "num_threads": 1, "val_patients": 2}})
    fg = {}
    for name in names:
        s = json.loads((ablation.ablation_folder(tmp_path / "results", "acdc", "smoke", name, 1, 2022)
                        / "summary.json").read_text())
        assert ablation.identify(s["provenance"]["config"]) == name and s["checkpoints"]["best"]["num_cases"] == 40
        fg[name] = s["checkpoints"]["best"]["foreground_mean"]["dice"]["mean"]
    lines = (out / "ablation_table.md").read_text().splitlines()
    assert "over 40 volumes" in lines[0]
    rows = [ln.strip("| ").split(" | ") for ln in lines if ln.startswith("| ") and not ln.startswith("| ablation")]
    assert [r[0] for r in rows] == names and [r[1] for r in rows] == ["-", "use_tokens=False", "method=pce"]
    assert [r[-2] for r in rows] == [f"{fg[n] - fg['cim']:+.3f}" for n in names]
    assert [r[-1] for r in rows] == [f"{fg[n] - fg['pce']:+.3f}" for n in names]
    csv = pd.read_csv(out / "ablation_table.csv")
    assert list(csv.ablation) == names and (csv.cases == 40).all() and (csv.iteration <= 4).all()
    assert csv.dice_mean_mean.tolist() == pytest.approx([fg[n] for n in names], abs=1e-6)
    assert (out / "ablation_dice.png").stat().st_size > 5000 and (out / "ablation_table.json").is_file()


def test_missing_note_names_the_runs_and_a_command_that_writes_outside_results():
    status = pd.DataFrame({"ablation": ["cim", "no_banks", "pce"], "status": ["complete", "missing", "missing"]})
    note = ablation.missing_note(status, "cpu-mm175-tables")
    assert "`no_banks`, `pce`" in note and "`cim`" not in note and "about 20 minutes" in note
    assert "reproduced/03_ablation.ipynb -p profile cpu-mm175-tables" in note and " results/" not in note
    assert "20 minutes" not in ablation.missing_note(status, "quick")
    assert ablation.missing_note(status.assign(status="complete")) == ""
