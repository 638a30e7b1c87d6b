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
