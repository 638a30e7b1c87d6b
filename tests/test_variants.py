"""Named variants and budgets (issues 29, 30): cim_paper, the bf16 profiles, where an ablation run lives, and
the CPU's native bf16 in provenance."""
from __future__ import annotations

import logging

import pytest

from scribcim.config import PROFILES, TrainConfig, make_config
from scribcim.config.ablations import ablation_of, identify
from scribcim.config.workflow import ablation_run, budget_runs, grid_runs
from scribcim.errors import ConfigError
from scribcim.provenance import cpu_bf16, device_info
from scribcim.runs.paths import results_dir_for, run_dir_for
from scribcim.training import loop


def _diff(a: str, b: str) -> dict:
    pa, pb = PROFILES[a], PROFILES[b]
    return {k: (pa.get(k), pb.get(k)) for k in set(pa) | set(pb) if pa.get(k) != pb.get(k)}


def test_budget_profiles_differ_from_the_grid_in_the_budget_and_precision_only():
    assert _diff("cpu-mm175-bf16", "cpu-mm175") == {"bf16": (True, None)}
    assert _diff("cpu-mm175-bf16-6k", "cpu-mm175-bf16") == {"max_iterations": (6000, 1500), "val_every": (200, 100),
                                                            "checkpoint_every": (200, 100)}
    cfg = make_config("cpu-mm175-bf16-6k", method="cim")
    assert cfg.bf16 and cfg.max_iterations == 6000 and cfg.num_threads == 1 and cfg.pixel_mm == 1.75


def test_cim_paper_is_cim_as_the_paper_sets_it_whatever_the_profile():
    grid, paper = make_config("cpu-mm175", method="cim"), make_config("cpu-mm175", method="cim_paper")
    assert (grid.cim_level, grid.sampling, grid.faithful) == (1, "majority", False)
    assert (paper.cim_level, paper.sampling, paper.faithful, paper.bank_size, paper.token_momentum) == \
        (0, "any", True, 1000, 0.99)
    assert {k for k, v in paper.to_dict().items() if grid.to_dict()[k] != v} == {"method", "cim_level", "sampling",
                                                                                "faithful"}
    assert make_config("cpu-mm175", method="cim_paper", cim_level=0).cim_level == 0  # its own value is fine
    with pytest.raises(ConfigError, match="fixes cim_level = 0"):
        make_config("cpu-mm175", method="cim_paper", cim_level=1)
    with pytest.raises(ConfigError, match="fixes sampling"):
        TrainConfig(**{**paper.to_dict(), "sampling": "majority"}).validate()
    assert ablation_of(paper) is None and identify(paper.to_dict()) is None
    assert results_dir_for(paper).as_posix() == "results/acdc/cpu-mm175/cim_paper/fold1/seed2022"


@pytest.mark.parametrize("overrides, folder", [
    ({"method": "cim"}, "cim"),
    ({"method": "cim", "use_banks": False}, "ablation/no_banks"),
    ({"method": "cim", "matching": "hard"}, "ablation/hard_matching"),
    ({"method": "cim_paper", "use_tokens": False}, "ablation/cim_paper-use_tokens-False"),
    ({"method": "pce_selfdice", "self_dice_weight": 1.0}, "ablation/pce_selfdice-self_dice_weight-1.0"),
])
def test_a_run_with_changed_method_settings_never_lands_in_its_methods_folder(overrides, folder):
    cfg = make_config("cpu-mm175", seed=2023, **overrides)
    assert results_dir_for(cfg).as_posix() == f"results/acdc/cpu-mm175/{folder}/fold1/seed2023"
    assert run_dir_for(cfg).as_posix() == f"runs/acdc/cpu-mm175/{folder}/fold1/seed2023"


def test_an_ablation_on_simulated_scribbles_is_refused():
    cfg = make_config("cpu-mm175", method="cim", use_tokens=False, scribbles="centreline")
    with pytest.raises(ConfigError, match="simulated scribbles"):
        results_dir_for(cfg)


def test_workflow_sections_plan_ablations_and_budgets():
    section = {"profile": "cpu-mm175", "dataset": "acdc", "fold": 1}
    assert ablation_run(section, "no_tokens", 2024) == dict(section, method="cim", seed=2024, use_tokens=False)
    with pytest.raises(ConfigError, match="a method's own run"):
        ablation_run(section, "cim", 2024)
    runs = budget_runs({"dataset": "acdc", "fold": 1, "runs": [{"profile": "cpu-mm175-bf16-6k", "methods": ["cim"],
                                                                 "seeds": [1, 2]}]})
    assert [(r["profile"], r["method"], r["seed"]) for r in runs] == [("cpu-mm175-bf16-6k", "cim", 1),
                                                                      ("cpu-mm175-bf16-6k", "cim", 2)]
    with pytest.raises(ConfigError, match="unknown key"):
        budget_runs({"dataset": "acdc", "fold": 1, "runs": [{"profile": "x", "methods": ["cim"], "seeds": [1],
                                                             "bf16": True}]})
    grid = grid_runs({"profile": "cpu-mm175-tables", "fold": 1, "runs": [{"dataset": "mscmr", "methods": ["pce"],
                                                                          "seeds": [7]}]}, "paper_tables")
    assert grid == [dict(profile="cpu-mm175-tables", dataset="mscmr", method="pce", fold=1, seed=7)]
    with pytest.raises(ConfigError, match=r"paper_tables.runs\[0\]"):
        grid_runs({"profile": "p", "fold": 1, "runs": [{"dataset": "acdc", "methods": ["pce"]}]}, "paper_tables")


def test_native_bf16_is_read_from_the_cpu_flags_and_recorded():
    assert cpu_bf16({"avx512f", "avx512_bf16"})["native_bf16"] is True
    amx = cpu_bf16({"amx_bf16", "amx_tile"})
    assert amx["native_bf16"] and amx["amx"] and amx["bf16_flags"] == ["amx_bf16"]
    assert cpu_bf16({"avx512f", "avx2"})["native_bf16"] is False
    info = device_info("cpu")
    assert isinstance(info["native_bf16"], bool) and "cpu_capability" in info


def test_bf16_on_a_cpu_without_it_warns_and_keeps_the_profiles_precision(monkeypatch, caplog):
    cfg = make_config("cpu-mm175-bf16", method="pce")
    monkeypatch.setattr(loop, "cpu_bf16", lambda: {"native_bf16": False})
    with caplog.at_level(logging.WARNING, logger=loop.log.name):
        loop.warn_emulated_bf16(cfg)
    assert "no native bf16" in caplog.text and cfg.bf16
    caplog.clear()
    monkeypatch.setattr(loop, "cpu_bf16", lambda: {"native_bf16": True})
    loop.warn_emulated_bf16(cfg)
    loop.warn_emulated_bf16(make_config("cpu-mm175", method="pce"))
    assert not caplog.text
