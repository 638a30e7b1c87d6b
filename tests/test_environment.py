"""The conda environment file and pyproject.toml pin the same packages."""
from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return req.strip().lower().replace("_", "-")


def test_environment_matches_pyproject():
    """Every pinned dependency (and the test extra) appears in environment.yml's pip list, and vice versa."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(r) for r in py["dependencies"] + py["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_norm(r) for r in pip if not r.startswith("-e")}
    assert listed == wanted
    assert all("==" in r for r in wanted), "dependencies must be pinned"


# Import name -> distribution name, where the two differ.
DISTRIBUTION_OF = {"PIL": "pillow", "yaml": "pyyaml", "sklearn": "scikit-learn", "IPython": "ipython"}
# Pinned but not imported by name in lib/, tests/ or the notebooks, and why.
PINNED_NOT_IMPORTED = {
    "tensorboard": "imported by torch.utils.tensorboard (runs/log.py)",
    "jupyterlab": "the notebook front end (make lab)",
    "ipykernel": "the kernel papermill and JupyterLab run the notebooks in",
    "snakemake": "the workflow runner (workflow/Snakefile)",
}
FIRST_PARTY = {"scribcim", "conftest"}


def _module_roots(source: str) -> set[str]:
    """Top-level module names imported by ``source`` (import, from-import, pytest.importorskip("...")) ."""
    import ast
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
              and node.args and isinstance(node.args[0], ast.Constant)):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def _notebook_sources(path: Path) -> list[str]:
    """The code cells of a notebook, IPython magics and shell lines dropped."""
    import json
    cells = json.loads(path.read_text())["cells"]
    return ["\n".join(line for line in "".join(c["source"]).splitlines() if not line.lstrip().startswith(("%", "!")))
            for c in cells if c["cell_type"] == "code"]


def _imported_distributions() -> set[str]:
    """Third-party distributions imported anywhere in lib/, tests/ and notebooks/."""
    import sys
    sources = [p.read_text() for folder in ("lib", "tests") for p in (ROOT / folder).rglob("*.py")]
    sources += [s for nb in sorted((ROOT / "notebooks").glob("*.ipynb")) for s in _notebook_sources(nb)]
    roots = set().union(*(_module_roots(s) for s in sources))
    tests = {p.stem for p in (ROOT / "tests").glob("*.py")}
    third = roots - set(sys.stdlib_module_names) - FIRST_PARTY - tests - {"__future__"}
    return {_norm(DISTRIBUTION_OF.get(m, m)) for m in third}


def _pinned_names() -> set[str]:
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_norm(r).split("==")[0] for r in py["dependencies"] + py["optional-dependencies"]["test"]}


def test_requires_python_has_tomllib():
    """The code uses tomllib (3.11+) and the pins need 3.11: requires-python says so."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert py["requires-python"] == ">=3.11"


def test_every_import_is_pinned():
    """Each third-party package imported by lib/, tests/ or the notebooks is pinned."""
    assert _imported_distributions() - _pinned_names() == set()


def test_every_pin_is_imported():
    """Each pin is imported somewhere (or is a listed tool/runtime dependency): no dead pins."""
    assert _pinned_names() - _imported_distributions() - set(PINNED_NOT_IMPORTED) == set()
