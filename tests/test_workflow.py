"""The Snakemake workflow: the jobs it plans, a two-job smoke DAG on real ACDC, and a failing job's notebook."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def _snakemake(*args: str, tmp_path: Path, data_root: str | None = None, config: tuple[str, ...] = ()
               ) -> subprocess.CompletedProcess:
    """Run snakemake from the repository root with every output path under ``tmp_path`` (one --config list)."""
    cfg = [f"results_root={tmp_path / 'results'}", f"runs_root={tmp_path / 'runs'}",
           f"figures_dir={tmp_path / 'figures'}", *config] + ([f"data_root={data_root}"] if data_root else [])
    return subprocess.run([str(SNAKEMAKE), "-s", "workflow/Snakefile", *args, "--config", *cfg], cwd=REPO,
                          capture_output=True, text=True, timeout=900)


def _job_counts(text: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: {rule: count}."""
    block = text.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", block, re.M)}


def test_dry_run_lists_the_main_job(tmp_path):
    out = _snakemake("-n", "--cores", "1", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    counts = _job_counts(out.stdout + out.stderr)
    assert counts == {"all": 1, "results": 1, "train": 2, "total": 4}


def test_dry_run_lists_the_robustness_grid(tmp_path):
    out = _snakemake("-n", "--cores", "1", "robustness", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    counts = _job_counts(out.stdout + out.stderr)
    assert counts["train"] == 4 and counts["train_simulated"] == 12 and counts["robustness_figure"] == 1
    text = out.stdout + out.stderr
    for level in ("0.00", "0.50", "1.00"):
        assert f"sim-centreline-inc{level}-seed0/dmpls/fold1/seed2022/summary.json" in text


def test_dry_run_lists_the_multi_seed_robustness_grid(tmp_path):
    """Issue 21: per method and seed the expert run and one run per level, scribble draw k for the k-th seed."""
    out = _snakemake("-n", "--cores", "1", "robustness_seeds", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    counts = _job_counts(out.stdout + out.stderr)
    assert counts == {"train": 9, "train_simulated": 27, "robustness_seeds_report": 1, "robustness_seeds": 1,
                      "total": 38}
    text = out.stdout + out.stderr
    for k, seed in enumerate((2022, 2023, 2024)):
        assert f"sim-matched-centreline-inc0.50-seed{k}/cim/fold1/seed{seed}/summary.json" in text
    assert "sim-matched-centreline-inc0.50-seed0/cim/fold1/seed2023" not in text


@pytest.mark.realdata
def test_smoke_dag_runs_and_is_not_rerun(tmp_path, real_root):
    """Two jobs (one smoke training on real ACDC, the results notebook) write their artefacts; a rerun does nothing."""
    out = _snakemake("--cores", "1", "--configfile", "workflow/smoke.yaml", tmp_path=tmp_path,
                     data_root=str(real_root))
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "results/acdc/smoke/cim/fold1/seed2022"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["checkpoints"]["best"]["num_cases"] == 40 and "provenance" in summary
    executed = json.loads((run / "executed.ipynb").read_text())
    assert executed["metadata"]["papermill"]["parameters"]["method"] == "cim"
    assert any(o.get("output_type") == "display_data" for c in executed["cells"] for o in c.get("outputs", []))
    table = (tmp_path / "results/tables/acdc_smoke_methods.md").read_text()
    assert re.search(r"^\| cim \| 1 \| 2022 \| 40 \| ", table, re.M)  # method, fold, seed, n
    assert (tmp_path / "figures/acdc_smoke_methods_box.png").stat().st_size > 1000
    again = _snakemake("--cores", "1", "--configfile", "workflow/smoke.yaml", tmp_path=tmp_path,
                       data_root=str(real_root))
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_failed_job_keeps_its_notebook_with_the_error(tmp_path):
    """A job that fails (here: no data at its data root) leaves no summary and no run folder, but its
    executed notebook shows the error."""
    out = _snakemake("--cores", "1", "--configfile", "workflow/smoke.yaml", tmp_path=tmp_path,
                     data_root=str(tmp_path / "nowhere"), config=(
                         "main={profile: smoke, datasets: [acdc], methods: [cim], folds: [1], seeds: [1]}",))
    assert out.returncode != 0
    run = tmp_path / "results/acdc/smoke/cim/fold1/seed1"
    assert not (run / "summary.json").exists() and not (tmp_path / "runs/acdc/smoke/cim/fold1/seed1").exists()
    executed = (run / "executed.ipynb").read_text()
    assert "scribcim fetch acdc" in executed and "nowhere" in executed


@pytest.mark.parametrize("config, message", [
    (("bogus=1",), "error: workflow config: unknown key(s) ['bogus']"),
    (("main={profile: smoke, datasets: [phantom], methods: [nosuchmethod], folds: [1], seeds: [1]}",),
     "error: workflow config main: unknown method 'nosuchmethod'"),
    (("overrides={val_every: 0}",), "error: workflow config main: val_every must be >= 1"),
])
def test_dry_run_refuses_a_bad_config(tmp_path, config, message):
    """The config is checked by the library's rules before any job is planned: a dry run fails, one line."""
    out = _snakemake("-n", "--cores", "1", tmp_path=tmp_path, config=config)
    assert out.returncode != 0 and message in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_dry_run_lists_the_paper_tables_and_the_budget_study(tmp_path):
    """Issues 29/30: the paper's tables as one batch at cpu-mm175-tables (the ablations under
    <profile>/ablation/<name>, their cim and pce_selfdice, cim_paper, the MSCMR baselines; no MSCMR full); the budget
    study's 6000-iteration runs and their bf16 twins at 1500."""
    out = _snakemake("-n", "--cores", "1", "paper_tables", "budget", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    counts, text = _job_counts(out.stdout + out.stderr), out.stdout + out.stderr
    assert counts == {"train_ablation": 15, "train": 35 + 33, "paper_tables": 1, "budget": 1, "total": 85}
    for name in ("no_banks", "no_tokens", "hard_matching"):
        assert f"acdc/cpu-mm175-tables/ablation/{name}/fold1/seed2026/summary.json" in text
    for method in ("pce_selfdice", "cim", "cim_paper"):  # the ablations' references, same batch and seeds
        assert f"acdc/cpu-mm175-tables/{method}/fold1/seed2026/summary.json" in text
    for method in ("pce", "pce_dice", "pce_selfdice", "dmpls", "cim"):
        assert f"mscmr/cpu-mm175-tables/{method}/fold1/seed2024/summary.json" in text
    assert "mscmr/cpu-mm175-tables/full" not in text and "/cpu-mm175/" not in text  # the grid is trained
    assert "acdc/cpu-mm175-bf16-6k/cim_paper/fold1/seed2024/summary.json" in text
    assert "acdc/cpu-mm175-bf16/dmpls/fold1/seed2022/summary.json" in text
    assert "acdc/cpu-mm175-bf16/cim_paper/fold1/seed2022/summary.json" in text  # its 1500 twin too
    assert "acdc/cpu-mm175-bf16/full" not in text  # the dense ceiling runs at 6000 only
    assert "acdc/cpu-mm175-bf16-6k/dmpls/fold1/seed2026/summary.json" in text  # 5 seeds at 6000
    assert "acdc/cpu-mm175-bf16-6k/full/fold1/seed2025" not in text and "acdc/cpu-mm175-bf16/cim/fold1/seed2025" not in text


def test_the_tables_profile_is_the_grids_settings():
    """cpu-mm175-tables differs from cpu-mm175 in its folder only (the batch of the paper's tables)."""
    from scribcim.config.profiles import PROFILES
    assert PROFILES["cpu-mm175-tables"] == PROFILES["cpu-mm175"]


def test_an_ablation_job_trains_cim_with_its_overrides(tmp_path):
    """The job's papermill parameters: method cim and the ablation's overrides (the library files it under
    ablation/<name>, scribcim.runs.paths)."""
    out = _snakemake("-n", "-p", "--cores", "1", str(tmp_path / "results/acdc/cpu-mm175/ablation/hard_matching/"
                                                    "fold1/seed2023/summary.json"), tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"method": "cim"' in out.stdout and '"matching": "hard"' in out.stdout and '"seed": 2023' in out.stdout


def test_lane_files_plan_every_run_of_their_sections_once():
    """workflow/lanes/: the budget lanes hold the budget section's runs, the tables lanes the paper_tables and
    ablation sections' runs, each run in exactly one lane."""
    import yaml
    from scribcim.config.workflow import budget_runs, grid_runs
    from scribcim.runs.paths import ablation_dir, planned_summary
    cfg = yaml.safe_load(Path("workflow/config.yaml").read_text())

    def lanes(prefix: str) -> list[str]:
        return [line.strip() for f in sorted(Path("workflow/lanes").glob(f"{prefix}-*.txt"))
                for line in f.read_text().splitlines() if line.strip() and not line.startswith("#")]

    budget = [planned_summary("results", r) for r in budget_runs(cfg["budget"])]
    ab = cfg["ablation"]
    tables = [planned_summary("results", r) for r in grid_runs(cfg["paper_tables"], "paper_tables")] + [
        f"{ablation_dir('results', ab['dataset'], ab['profile'], a, ab['fold'], s).as_posix()}/summary.json"
        for a in ab["ablations"] for s in ab["seeds"]]
    for prefix, planned in (("budget", budget), ("tables", tables)):
        listed = lanes(prefix)
        assert len(listed) == len(set(listed)) and set(listed) == set(planned), prefix
