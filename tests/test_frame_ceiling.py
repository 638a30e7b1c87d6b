"""scribcim.analysis.frame_ceiling: a perfect prediction in the model's frame, mapped back and scored."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scribcim.analysis import frame_ceiling as fc
from scribcim.data.frame import Frame
from scribcim.data.phantom import phantom_volume
from scribcim.data.volumes import Volume


def test_oracle_returns_its_input_labels_one_hot():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    logits, _ = fc.Oracle()(x)
    assert logits.shape == (1, 4, 2, 2) and torch.equal(logits.argmax(1)[0], x[0, 0].long())


def _square_volume(n: int, spacing: float) -> Volume:
    label = np.zeros((2, n, n), np.uint8)
    label[:, n // 4: n // 2, n // 4: n // 2] = 1
    label[:, n // 2: 3 * n // 4, n // 2: 3 * n // 4] = 3
    label[:, n // 2: 3 * n // 4, n // 4: n // 2] = 2
    return Volume(case="sq", patient=1, image=label.astype(np.float32), label=label,
                  scribble=np.full(label.shape, 4, np.uint8), spacing=(10.0, spacing, spacing))


def test_a_frame_on_the_scans_own_grid_loses_nothing_and_a_coarse_one_does():
    v = _square_volume(64, 1.5)
    exact = fc.ceiling_cases([v], Frame(64))[0]  # whole slice at its own size: the identity
    assert exact["foreground_mean"]["dice"] == pytest.approx(1.0) and exact["foreground_mean"]["hd95"] == 0
    coarse = fc.ceiling_cases([phantom_volume(1)], Frame(16))[0]  # 40-56 px slices seen at 16 px
    assert 0.3 < coarse["foreground_mean"]["dice"] < 0.999


def test_a_window_that_misses_a_structure_costs_it():
    v = _square_volume(64, 1.5)
    v.label[:, 2:6, 2:6] = 1          # a bit of RV in the corner, 40-50 mm from the centre
    whole = fc.ceiling_cases([v], Frame(64, 1.5))[0]["classes"]
    small = fc.ceiling_cases([v], Frame(32, 1.5))[0]["classes"]  # a 48 mm window: the corner lies outside
    assert whole["RV"]["dice"] == pytest.approx(1.0)
    assert small["RV"]["dice"] < whole["RV"]["dice"] and small["LV"]["dice"] == pytest.approx(1.0)


def test_rows_and_table_per_geometry():
    vols = [phantom_volume(1), phantom_volume(2)]
    rows = [fc.ceiling_row(p, fc.ceiling_cases(vols, fc.frame_of_profile(p))) for p in ("smoke", "cpu-mm175")]
    assert [r["volumes"] for r in rows] == [2, 2] and rows[1]["window_mm"] == pytest.approx(224.0)
    md = "\n".join(fc.ceiling_markdown(rows, "phantom", "test", 1))
    assert "| `smoke` | 64 px, whole slice | 2 |" in md and "128 px at 1.75 mm (224 mm window)" in md


def test_command_line_writes_the_record(tmp_path, capsys):
    fc.main(["--dataset", "phantom", "--profiles", "smoke", "--tables", str(tmp_path)])
    rec = json.loads((tmp_path / "phantom_frame_ceiling.json").read_text())
    assert rec["rows"][0]["profile"] == "smoke" and "git" in rec["provenance"]
    assert 0 < rec["rows"][0]["dice mean"]["mean"] <= 1
    assert "| `smoke` |" in capsys.readouterr().out and (tmp_path / "phantom_frame_ceiling.md").is_file()
    path = tmp_path / "phantom_frame_ceiling.json"
    path.write_text(path.read_text().replace(rec["provenance"]["created"], "2020-01-01T00:00:00+00:00"))
    before = path.read_text()
    fc.main(["--dataset", "phantom", "--profiles", "smoke", "--tables", str(tmp_path)])  # the same measurement again
    assert path.read_text() == before  # not rewritten: a rerun leaves a committed record (and its date) alone
