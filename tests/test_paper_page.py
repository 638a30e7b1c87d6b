"""docs/paper.md and the README's paper-summary block: the grid laid out as the paper lays out its tables, beside the
numbers reported elsewhere, rendered from the committed record (:mod:`scribcim.report.paper_layout`)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from scribcim.report.doc_blocks import BLOCK, update
from scribcim.report.paper_layout import REPORTED, SOURCES, paper_block, summary_block

ROOT = Path(__file__).resolve().parents[1]


def _rows(ds: str, method: str, runs: int, dice: float, dice_sd: float | None, hd: float, hd_sd: float | None,
          ) -> list[dict]:
    """The four structure rows of one (dataset, method), as the comparison record holds them (RV a bit lower)."""
    return [{"dataset": ds, "method": method, "structure": s, "dice_mean": dice - (0.1 if s == "RV" else 0.0),
             "dice_std": dice_sd, "hd95_mean": hd, "hd95_std": hd_sd, "asd_mean": 1.0, "asd_std": None, "runs": runs}
            for s in ("LV", "MYO", "RV", "mean")]


def toy_record(post: bool = True) -> dict:
    """ACDC: `pce` and `cim` with runs, `cim_paper` with none, no `dmpls` (reported beside it) nor `full`; MSCMR:
    `cim` from one run (no sd); post-processed rows for ACDC's `cim` only."""
    rec = {"profile": "toy", "fold": 1, "checkpoint": "best", "training_commits": ["abcdef0123"],
           "table": [*_rows("acdc", "pce", 2, 0.7, 0.02, 60.0, 5.0), *_rows("acdc", "cim", 3, 0.8, 0.01, 25.0, 2.5),
                     *_rows("acdc", "cim_paper", 0, float("nan"), None, float("nan"), None),
                     *_rows("mscmr", "cim", 1, 0.86, None, 8.0, None)],
           "differences": []}
    if post:
        rec["postprocessed"] = {"table": _rows("acdc", "cim", 3, 0.85, 0.005, 5.0, 0.25), "differences": []}
    return rec


def test_paper_block_per_structure_raw_and_post_processed():
    md = paper_block(toy_record())
    assert "| method | numbers | runs | Dice RV | Dice MYO | Dice LV | Dice mean | HD95 RV | HD95 MYO | HD95 LV | " \
           "HD95 mean |" in md
    assert "| `cim` | raw | 3 | 70.0 ± 1.0 | 80.0 ± 1.0 | 80.0 ± 1.0 | 80.0 ± 1.0 | 25.0 ± 2.5 | 25.0 ± 2.5 | " \
           "25.0 ± 2.5 | 25.0 ± 2.5 |" in md
    assert "| `cim` | post-processed | 3 | 75.0 ± 0.5 | 85.0 ± 0.5 | 85.0 ± 0.5 | 85.0 ± 0.5 | 5.0 ± 0.2 |" in md
    # post-processed in the record, but not for `pce`: its row shows "-"
    assert "| `pce` | raw | 2 | 60.0 ± 2.0 | 70.0 ± 2.0 |" in md
    assert "| `pce` | post-processed | - | - | - | - | - | - | - | - | - |" in md
    # one run: the mean alone, no sd
    assert "| `cim` | raw | 1 | 76.0 | 86.0 | 86.0 | 86.0 | 8.0 | 8.0 | 8.0 | 8.0 |" in md
    # the paper's order; a reported method without runs here: a "-" row, then its reported row
    assert md.index("| `pce` | raw") < md.index("| pCE | reported") < md.index("| `dmpls` | no runs yet") < \
        md.index("| DMPLS | reported") < md.index("| `cim` | raw") < md.index("| CIM | reported [a]")
    # a method with no runs has no row; it is named as not in the record yet, and `full` on MSCMR cannot run
    assert "| `cim_paper`" not in md
    assert "Not in the record yet on ACDC: `pce_dice`, `pce_selfdice`, `cim_paper`." in md
    assert "Not in the record yet on MSCMR: `pce`, `pce_dice`, `pce_selfdice`, `dmpls`, `cim_paper`." in md
    assert "`full` needs dense training labels, which MSCMR does not have." in md
    assert md.index("**ACDC**") < md.index("**MSCMR**")
    assert "trained at abcdef0" in md and md.endswith("\n")


def test_paper_block_without_post_processed_metrics():
    md = paper_block(toy_record(post=False))
    assert "post-processed |" not in md and "| `cim` | raw | 3 | 70.0 ± 1.0 |" in md


def test_reported_numbers_are_labelled_as_reported_with_their_source():
    md = paper_block(toy_record())
    assert "| DMPLS | reported [b] | 1 per fold | 86.1 | 84.2 | 91.3 | 87.2 | - | - | - | 9.9 |" in md
    assert "| CIM | reported [a] | 1 per fold | - | - | - | 87.9 | - | - | - | - |" in md
    assert "| CIM | reported [a] | 1 per fold | - | - | - | 85.3 | - | - | - | - |" in md  # MSCMR
    assert "| pCE | reported [b] | 1 per fold | - | - | - | 68.6 | - | - | - | 173.3 |" in md
    assert "| full supervision | reported [b] | 1 per fold | - | - | - | 89.8 | - | - | - | 7.0 |" in md
    assert "| DMSPS | reported [c] | 1 | - | - | - | 89.5 | - | - | - | - |" in md
    for s in SOURCES.values():
        assert f"* [{s.mark}] {s.name}: {s.protocol}." in md
    assert "checkpoint chosen on the test fold" in SOURCES["a"].protocol
    assert "25 scribbled subjects" in SOURCES["a"].protocol and "30,000 iterations" in SOURCES["c"].protocol
    for r in REPORTED:  # every number in a table's unit: Dice in %, HD95 in mm; each source named
        assert r.source in SOURCES and all(1 < v < 100 for v in r.dice.values())


def test_summary_block_means_raw_post_and_reported():
    md = summary_block(toy_record())
    head = md.splitlines()[0]
    assert head == ("| method | ACDC runs | ACDC Dice (%), raw / post | ACDC Dice (%), reported | ACDC HD95 (mm), "
                    "raw / post | ACDC HD95 (mm), reported | MSCMR runs | MSCMR Dice (%), raw / post | MSCMR Dice (%), "
                    "reported | MSCMR HD95 (mm), raw / post |")
    assert "| `pce` | 2 | 70.0 / - | 68.6 [b] | 60.0 / - | 173.3 [b] | - | - | - | - |" in md
    assert "| `dmpls` | - | - | 87.2 [b] | - | 9.9 [b] | - | - | - | - |" in md
    assert "| `cim` | 3 | 80.0 / 85.0 | 87.9 [a] | 25.0 / 5.0 | - | 1 | 86.0 / - | 85.3 [a] | 8.0 / - |" in md
    assert "| `full` (dense labels) | - | - | 89.8 [b] | - | 7.0 [b] | - |" in md
    assert "cim_paper" not in md and "DMSPS" not in md  # no runs; not a method of this project
    assert "[a] the CIM paper; [b] the WSL4MIS technical report" in md and "docs/paper.md" in md
    raw = summary_block(toy_record(post=False))
    assert "| ACDC Dice (%), raw |" in raw and "| `cim` | 3 | 80.0 | 87.9 [a] | 25.0 | - | 1 | 86.0 |" in raw


def test_paper_blocks_render_through_doc_blocks(tmp_path):
    (tmp_path / "toy_seeds.json").write_text(json.dumps(toy_record()))
    page = tmp_path / "page.md"
    page.write_text("A\n<!-- paper toy -->\nold\n<!-- /paper -->\nB\n"
                    "<!-- paper-summary toy -->\n<!-- /paper-summary -->\n")
    assert not update(page, tmp_path)
    text = page.read_text()
    assert text.startswith("A\n<!-- paper toy -->\n" + paper_block(toy_record()) + "<!-- /paper -->\nB\n")
    assert "<!-- paper-summary toy -->\n" + summary_block(toy_record()) + "<!-- /paper-summary -->\n" in text
    assert update(page, tmp_path, write=False)


def _blocks(page: str) -> dict[str, str]:
    return {f"{m['kind']} {m['key']}": m["body"] for m in BLOCK.finditer((ROOT / page).read_text())}


def test_committed_paper_page_and_readme_match_the_committed_record():
    record = json.loads((ROOT / "results" / "tables" / "cpu-mm175_seeds.json").read_text())
    assert _blocks("docs/paper.md")["paper cpu-mm175"] == paper_block(record)
    assert _blocks("README.md")["paper-summary cpu-mm175"] == summary_block(record)


def test_reported_numbers_are_typed_only_in_the_module():
    """docs/paper.md quotes the reported numbers only inside its rendered block."""
    text = (ROOT / "docs" / "paper.md").read_text()
    outside = BLOCK.sub("", text)
    numbers = {f"{v:.1f}" for r in REPORTED for d in (r.dice, r.hd95) for v in d.values()}
    assert not [n for n in numbers if re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", outside)]
    assert "docs/paper.md" in (ROOT / "docs" / "README.md").read_text() or "(paper.md)" in \
        (ROOT / "docs" / "README.md").read_text()
