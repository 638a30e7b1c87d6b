"""Execute the project's notebooks with papermill; the notebook conventions in one place.

Notebooks in ``notebooks/`` are committed without outputs, have one cell tagged
``parameters`` (literals only) and call :mod:`scribcim`; executed copies go to
``results/.../executed.ipynb`` (or a test's temporary folder), never back into ``notebooks/``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .errors import ConfigError

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"


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
