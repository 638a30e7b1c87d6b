"""make figures: committed figures are redrawn byte-identically from committed results (+ data)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scribcim.config import make_config
from scribcim.evaluate.summary import evaluate
from scribcim.jobs.redraw import make_figures
from scribcim.viz.figures import best_worst_figure, overlays_figure, render_main_figures
from scribcim.runs.paths import results_dir_for

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.realdata
def test_make_figures_redraws_committed_figures(tmp_path, real_root, monkeypatch):
    """Every figure make_figures can redraw quickly equals the committed PNG byte for byte, and redrawing over a
    copy of the committed figures and tables changes no file (not even a provenance file's commit)."""
    shutil.copytree(REPO / "figures", tmp_path / "figures")
    tables = tmp_path / "tables"
    shutil.copytree(REPO / "results" / "tables", tables)
    for p in (REPO / "results" / "acdc" / "quick").glob("robustness_fold1*"):  # the robustness table's files
        shutil.copy2(p, tables / p.name)
    committed = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.chdir(REPO)  # as `make figures` runs: inputs named by paths relative to the repository root
    written = make_figures(Path("results"), tmp_path / "figures", data_root=real_root, scribble_stats=False,
                           tables=tables, records=Path("figures"))
    compared = [p.name for p in written if (REPO / "figures" / p.name).is_file()]
    assert {"acdc_quick_methods_box.png", "acdc_quick_fold1_curves.png", "acdc_quick_fold1_overlays.png",
            "acdc_quick_robustness_fold1.png", "acdc_cpu-mm175_fold1_matching_attention.png",
            "acdc_cpu-mm175_fold1_matching_matches.png", "acdc_cpu-mm175_fold1_matching_embedding.png"} <= set(compared)
    for name in compared:
        assert (tmp_path / "figures" / name).read_bytes() == (REPO / "figures" / name).read_bytes(), name
    changed = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                     if p.is_file() and committed.get(p) != p.read_bytes())
    assert changed == []
    for p in written:
        prov = json.loads(p.with_suffix(".json").read_text())
        assert "git" in prov and ("summaries" in prov or "inputs" in prov or "record" in prov)


def test_main_figures_from_results_folders(tmp_path, phantom_run):
    """Curves and overlays drawn from results folders alone (training log + display.json), no checkpoints."""
    import shutil
    folders = {}
    for method in ("pce", "cim"):
        cfg = make_config("smoke", dataset="phantom", method=method, results_root=str(tmp_path / "results"))
        run = phantom_run(method)
        evaluate(run, results_dir=results_dir_for(cfg), progress=False)
        folders[method] = results_dir_for(cfg)
        shutil.rmtree(run)  # no run folders, no checkpoints
    paths = render_main_figures(folders, tmp_path / "figs", "phantom_smoke")
    assert [p.name for p in paths] == ["phantom_smoke_curves.png", "phantom_smoke_overlays.png"]
    prov = json.loads(paths[1].with_suffix(".json").read_text())
    fig, shown = overlays_figure(folders)
    assert shown == {"case": prov["case"], "slice": prov["slice"], "checkpoint": "best"}
    assert len(fig.axes) == 5  # image, scribble, ground truth, pce, cim
    assert len(best_worst_figure(folders["cim"], n=1).axes) == 2 * 4
