"""Execute the project's notebooks with papermill; the notebook conventions in one place.

Notebooks in ``notebooks/`` are committed without outputs, have one cell tagged
``parameters`` (literals only) and call :mod:`scribcim`; executed copies go to
``results/.../executed.ipynb`` (or a test's temporary folder), never back into ``notebooks/``.

Relative paths in parameters mean the repository root, wherever a notebook runs: JupyterLab starts
its kernel in ``notebooks/``, papermill and Snakemake in the root (``--cwd .``). Each notebook's
first code cell calls :func:`use_repo_root`, which makes the root the kernel's working directory.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[3]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"


def is_repo_root(folder: Path) -> bool:
    """True if ``folder`` is a scribcim checkout (``pyproject.toml`` beside ``lib/scribcim``)."""
    return (folder / "pyproject.toml").is_file() and (folder / "lib" / "scribcim").is_dir()


def repo_root(start: Path | str | None = None) -> Path | None:
    """The checkout holding ``start`` (default: the working directory): it or its nearest parent that
    :func:`is_repo_root`; else the checkout this package is installed from (editable install); else None."""
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents, REPO):
        if is_repo_root(folder):
            return folder
    return None


def repo_path(path: Path | str | None, root: Path | str | None = None) -> Path | None:
    """``path`` resolved against the repository root (``root``, default :func:`repo_root`); None stays None."""
    if path is None:
        return None
    path = Path(path).expanduser()
    base = Path(root) if root is not None else repo_root()
    return path if path.is_absolute() or base is None else base / path


def use_repo_root() -> Path:
    """Make the repository root the working directory (notebooks call this first) and return it.

    Then a relative path means the same in JupyterLab, papermill and Snakemake, and nothing is
    written under ``notebooks/``. Outside a checkout the working directory is kept (with a warning).
    """
    root = repo_root()
    if root is None:
        log.warning("no scribcim checkout above %s: relative paths stay relative to it", os.getcwd())
        return Path.cwd()
    if Path.cwd().resolve() != root:
        log.info("working directory: %s (relative paths are read from the repository root)", root)
        os.chdir(root)
    return root


def notebook_path(name: str) -> Path:
    """``notebooks/<name>.ipynb`` (``name`` with or without the suffix); clear error if missing."""
    path = NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    if not path.is_file():
        known = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
        raise ConfigError(f"no notebook {path}: choose one of {known}")
    return path


def parameters_of(path: Path | str) -> dict[str, Any]:
    """The names and default values of a notebook's ``parameters`` cell (papermill's own parser)."""
    import papermill as pm
    return {name: p["default"] for name, p in pm.inspect_notebook(str(path)).items()}


def execute(name: str, output: Path | str, parameters: dict[str, Any] | None = None, *,
            cwd: Path | str = REPO, progress: bool = False, cell_timeout: int | None = 900) -> Path:
    """Run ``notebooks/<name>.ipynb`` with papermill, writing the executed copy to ``output``.

    Unknown parameter names are refused (papermill would only warn). A cell running longer than
    ``cell_timeout`` seconds fails the execution instead of waiting forever. On failure papermill has
    already written ``output`` with the error shown in the failing cell; the exception is re-raised.
    """
    import papermill as pm
    src = notebook_path(name)
    params = dict(parameters or {})
    unknown = set(params) - set(parameters_of(src))
    if unknown:
        raise ConfigError(f"{src.name} has no parameter(s) {sorted(unknown)}; it takes {sorted(parameters_of(src))}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    log.info("executing %s -> %s with %s", src.name, output, params)
    pm.execute_notebook(str(src), str(output), parameters=params, kernel_name=KERNEL, cwd=str(cwd),
                        progress_bar=progress, execution_timeout=cell_timeout)
    return output


def has_outputs(path: Path | str) -> bool:
    """True if any code cell of the notebook carries outputs or an execution count."""
    nb = json.loads(Path(path).read_text())
    return any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code")
