"""Progress of the training loop: a bar that moves every second, or periodic log lines with bars off."""
from __future__ import annotations

import logging

from scribcim import progress
from scribcim.config import make_config
from scribcim.progress import LoopProgress, progress_bar
from scribcim.training.loop import train


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "scribcim.progress"]


def test_bar_checks_the_clock_at_every_iteration():
    bar = progress_bar(range(3), enabled=True)
    assert (bar.miniters, bar.mininterval, bar.dynamic_miniters) == (1, progress.BAR_INTERVAL_S, False)
    assert list(bar) == [0, 1, 2]


def test_without_bars_a_line_is_logged_per_interval(caplog):
    caplog.set_level(logging.INFO, logger="scribcim.progress")
    loop = LoopProgress(3, 8, 10, enabled=False, desc="run", interval_s=0.0)
    for it in loop:
        loop.set_postfix(loss=f"{it:.1f}")
    lines = _lines(caplog)
    assert len(lines) == 5 and lines[0].startswith("run: 4/10 (40%)") and lines[-1].startswith("run: 8/10 (80%)")
    assert lines[-1].endswith("loss=7.0") and "s/it" in lines[-1] and "min left" in lines[-1]
    caplog.clear()
    assert list(LoopProgress(0, 100, 100, enabled=False, desc="run")) == list(range(100))
    assert [ln.split(" (")[0] for ln in _lines(caplog)] == ["run: 1/100", "run: 100/100"]  # first and last


def test_training_without_progress_bar_logs_its_progress(smoke_overrides, caplog):
    caplog.set_level(logging.INFO, logger="scribcim.progress")
    train(make_config("smoke", method="pce", **smoke_overrides))
    lines = _lines(caplog)
    assert lines[0].startswith("pce fold1: 1/4 (25%)") and lines[-1].startswith("pce fold1: 4/4 (100%)")
    assert "loss=" in lines[-1]


def test_long_loops_use_the_progress_helper():
    """Only scribcim.progress makes tqdm bars: score, predict and fetch go through :func:`progress_bar` (a bar
    that redraws every second), never ``tqdm`` directly."""
    import ast
    from pathlib import Path
    lib = Path(progress.__file__).parent
    direct = []
    for path in sorted(lib.rglob("*.py")):
        if path.name == "progress.py" and path.parent == lib:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            direct += [f"{path.relative_to(lib)}:{node.lineno}" for n in names if n.split(".")[0] == "tqdm"]
    assert direct == []
    for module in ("evaluate.score", "evaluate.predict", "data.fetch"):
        assert "progress_bar" in (lib / f"{module.replace('.', '/')}.py").read_text()
