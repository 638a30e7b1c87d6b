"""What figures need from a run besides the data, kept next to its summary so figures can be redrawn.

``evaluate`` writes, beside ``summary.json``:

* ``train_log.jsonl``: a copy of the run's ``metrics.jsonl`` (loss and validation curves);
* ``display.json``: the predicted label of the middle slice of every evaluated case at the
  first evaluated checkpoint (``best``), each a lossless PNG in base64 (about 1 KB).

With these and the data folder (images, scribbles, labels), ``make figures`` redraws curve and
overlay figures without checkpoints.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

DISPLAY = "display.json"
TRAIN_LOG = "train_log.jsonl"


def encode_labels(labels: np.ndarray) -> str:
    """A 2D label map (values 0-255) as base64 PNG text (lossless)."""
    from PIL import Image
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.min() < 0 or arr.max() > 255:
        raise ValueError(f"expected a 2D label map with values 0-255, got shape {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def decode_labels(text: str) -> np.ndarray:
    """Inverse of :func:`encode_labels` (uint8 array)."""
    from PIL import Image
    return np.array(Image.open(io.BytesIO(base64.b64decode(text))), dtype=np.uint8)


def display_record(checkpoint: str, middles: dict[str, tuple[int, np.ndarray]]) -> dict[str, Any]:
    """``display.json`` content from ``{case: (slice index, predicted label of that slice)}``."""
    return {"checkpoint": checkpoint, "slices": {case: {"slice": int(z), "prediction": encode_labels(pred)}
                                                 for case, (z, pred) in sorted(middles.items())}}


def read_display(folder: Path | str) -> tuple[str, dict[str, tuple[int, np.ndarray]]]:
    """(checkpoint, ``{case: (slice, prediction)}``) from ``folder/display.json`` (clear error if absent)."""
    path = Path(folder) / DISPLAY
    if not path.is_file():
        raise DataError(f"{path} not found: evaluate the run again (`scribcim evaluate --run ... --results "
                        f"{folder}`) to write it")
    rec = json.loads(path.read_text())
    return rec["checkpoint"], {c: (s["slice"], decode_labels(s["prediction"])) for c, s in rec["slices"].items()}


def train_log_path(folder: Path | str) -> Path:
    """A run folder's ``metrics.jsonl`` or a results folder's ``train_log.jsonl``."""
    folder = Path(folder)
    for name in ("metrics.jsonl", TRAIN_LOG):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"no metrics.jsonl or {TRAIN_LOG} in {folder}: it is not a run or results folder of a "
                    "run evaluated by this version")
