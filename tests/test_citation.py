"""CITATION.cff: valid YAML in the Citation File Format 1.2.0, citing the CIM paper by its DOI."""
from __future__ import annotations

from pathlib import Path

import yaml

CFF = Path(__file__).resolve().parents[1] / "CITATION.cff"
DOI = "10.1109/TIP.2025.3530787"


def test_citation_file_parses_and_cites_the_paper():
    cff = yaml.safe_load(CFF.read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"] == "scribcim" and cff["license"] == "MIT"
    assert {"message", "authors"} <= set(cff)
    assert CFF.with_name("LICENSE").read_text().startswith(f"{cff['license']} License")
    paper = cff["preferred-citation"]
    assert paper["doi"] == DOI and paper["type"] == "article" and (paper["start"], paper["end"]) == (842, 853)
    assert DOI in [r.get("doi") for r in cff["references"]]
    assert all({"type", "title", "authors"} <= set(r) for r in cff["references"])
