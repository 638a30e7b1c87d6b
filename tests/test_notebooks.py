"""scribcim.notebook.execute: how notebooks are executed (parameters, in-memory kernel history, cell time limit)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from scribcim.notebook import execute as notebooks
from scribcim.errors import ConfigError


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    """A notebook folder with one notebook: a ``parameters`` cell and a cell reporting the kernel's history state."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    params = nbformat.v4.new_code_cell("wait = 0.0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import time\ntime.sleep(wait)\nprint('history', get_ipython().history_manager.hist_file)")]
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "tiny.ipynb")
    monkeypatch.setattr(notebooks, "NOTEBOOKS", folder)
    return folder / "tiny.ipynb"


def _stdout(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return "".join(o.get("text", "") for c in cells if c.cell_type == "code" for o in c.outputs)


def test_executed_kernel_keeps_its_history_in_memory(tiny, tmp_path):
    """Concurrent jobs must not share the user's IPython history database (nbclient's default, relied on)."""
    out = notebooks.execute("tiny", tmp_path / "out" / "tiny.ipynb", {"wait": 0.0}, cwd=tmp_path)
    assert "history :memory:" in _stdout(out)
    assert not notebooks.has_outputs(tiny) and notebooks.has_outputs(out)


def test_unknown_parameter_and_missing_notebook_are_refused(tiny, tmp_path):
    with pytest.raises(ConfigError, match="no parameter"):
        notebooks.execute("tiny", tmp_path / "x.ipynb", {"wiat": 1.0})
    with pytest.raises(ConfigError, match="tiny"):
        notebooks.notebook_path("tnyi")


def test_a_cell_over_the_time_limit_fails_instead_of_waiting(tiny, tmp_path):
    from nbclient.exceptions import CellTimeoutError
    out = tmp_path / "slow.ipynb"
    with pytest.raises(CellTimeoutError, match="timed out"):
        notebooks.execute("tiny", out, {"wait": 60.0}, cwd=tmp_path, cell_timeout=2)
    slow = nbformat.read(out, as_version=4).cells[-1]  # the executed copy shows where it stopped
    assert [o.get("ename") for o in slow.outputs] == ["KeyboardInterrupt"]


def test_repo_root_is_found_from_anywhere_inside(tmp_path, monkeypatch):
    root = notebooks.REPO
    assert notebooks.repo_root(root / "notebooks") == root == notebooks.repo_root(root / "lib" / "scribcim")
    assert notebooks.repo_path("runs/x", root) == root / "runs/x" and notebooks.repo_path(None) is None
    assert notebooks.repo_path(tmp_path) == tmp_path  # absolute paths are kept
    monkeypatch.chdir(root / "notebooks")  # where JupyterLab starts a notebook's kernel
    assert notebooks.use_repo_root() == root and Path.cwd() == root


def test_every_notebook_works_from_the_repository_root():
    """Each notebook's first code cell after the parameters moves the kernel to the repository root."""
    for path in sorted(notebooks.NOTEBOOKS.glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert "parameters" in cells[0].metadata.get("tags", []), path.name
        assert "use_repo_root()" in cells[1].source, path.name


@pytest.mark.slow
def test_notebooks_started_in_notebooks_folder_read_the_repository(tmp_path):
    """Kernels started in notebooks/ (as JupyterLab does): committed results are found, nothing is written there,
    and the ablation notebook trains nothing by default but says what to run."""
    before = sorted(p.name for p in notebooks.NOTEBOOKS.iterdir())
    nb = notebooks.execute("04_results", tmp_path / "04.ipynb", {
        "tables_dir": str(tmp_path / "tables"), "figures_dir": str(tmp_path / "figures")}, cwd=notebooks.NOTEBOOKS)
    assert (tmp_path / "tables" / "acdc_quick_methods.md").is_file() and "| cim |" in _stdout_and_data(nb)
    # the comparison across seeds of the committed cpu-mm175 runs: table, targets, far-field report and figures
    assert "cim − pce_selfdice" in _stdout_and_data(nb) and "| cim: mean Dice >= 0.85 |" in _stdout_and_data(nb)
    assert {"cpu-mm175_seeds.md", "cpu-mm175_targets.md", "acdc_cpu-mm175_far_field.md"} <= \
        {p.name for p in (tmp_path / "tables").iterdir()}
    assert (tmp_path / "figures" / "acdc_cpu-mm175_far_field.png").is_file()
    nb = notebooks.execute("03_ablation", tmp_path / "03.ipynb", {"runs_root": str(tmp_path / "runs")},
                           cwd=notebooks.NOTEBOOKS)
    text = _stdout_and_data(nb)
    assert "train_missing = True" in text and "missing" in text and not (tmp_path / "runs").exists()
    assert sorted(p.name for p in notebooks.NOTEBOOKS.iterdir()) == before


def _stdout_and_data(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return "".join(o.get("text", "") + "".join(map(str, o.get("data", {}).values()))
                   for c in cells if c.cell_type == "code" for o in c.outputs)
