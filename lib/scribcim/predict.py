"""Segment new scans with a trained run: ``predict(run_dir, inputs, output_dir)``.

Everything the preprocessing needs comes from the run folder (``config.json``,
``run_info.json``, ``checkpoints/``): the per-volume normalisation of training
(:func:`scribcim.io.normalise`), slice-wise inference at the run's input size and the softmax
resized back to each slice's original size (:func:`scribcim.inference.predict_probs`). Each
input ``<name>.nii[.gz]`` or ``<name>.h5`` gives ``<name>_seg.nii.gz`` (labels 0 background,
1 RV, 2 MYO, 3 LV) with the input's shape, affine and header, and optionally
``<name>_prob.nii.gz`` (x, y, z, class). ``labels.json`` beside them names the classes.

A bad input (unreadable, truncated, not 3D, non-finite) is skipped with a one-line reason and
leaves no output; the others are still written. See :data:`scribcim.io.ORIENTATION`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .errors import ConfigError, ScribcimError
from .evaluate import load_model, load_run_config
from .inference import predict_probs
from .io import (PRED_SUFFIX, PROB_SUFFIX, list_inputs, normalise, read_run_info, read_scan,
                 write_labels_json, write_nifti)

log = logging.getLogger(__name__)


@dataclass
class PredictResult:
    """What :func:`predict` wrote and what it could not.

    Attributes:
        outputs: label volumes written, one per good input.
        failed: (input, one-line reason) for each input that was refused.
        seconds_per_volume: mean wall time per written volume (reading to writing).
    """

    outputs: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds_per_volume: float = float("nan")


def output_path(output_dir: Path, name: str, suffix: str = PRED_SUFFIX) -> Path:
    """Where the output of input ``name`` goes (the one place the naming is chosen)."""
    return Path(output_dir) / f"{name}{suffix}.nii.gz"


def predict(run_dir: Path | str, inputs: Path | str, output_dir: Path | str, *, checkpoint: str = "best",
            device: str = "cpu", batch_size: int = 16, save_probs: bool = False,
            progress: bool = True) -> PredictResult:
    """Segment one scan or a folder of scans with a trained run.

    Args:
        run_dir: Run folder written by ``scribcim train``.
        inputs: A ``.nii``/``.nii.gz``/``.h5`` file, or a folder of them.
        output_dir: Folder for ``<name>_seg.nii.gz`` (created if needed) and ``labels.json``.
        checkpoint: ``best`` (on validation) or ``last``.
        device: ``cpu`` or ``cuda[:N]``.
        batch_size: Slices per forward pass.
        save_probs: Also write ``<name>_prob.nii.gz`` (float32, x, y, z, class).
        progress: Show a progress bar over volumes.

    Returns:
        The written outputs, the refused inputs with their reasons, and seconds per volume.

    Raises:
        ConfigError: Bad run folder, missing or old-format checkpoint.
        DataError: No inputs, or the only input is bad (its own one-line reason).
    """
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} not found: pass the folder `scribcim train` wrote with --run")
    config = load_run_config(run_dir)
    info = read_run_info(run_dir, config)
    if checkpoint not in ("best", "last", "latest"):
        raise ConfigError(f"checkpoint must be best or last, got {checkpoint!r}")
    files = list_inputs(inputs)
    model, ckpt = load_model(run_dir, checkpoint, device)
    result, seconds = PredictResult(), []
    output_dir.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc="predict", unit="volume", disable=not progress):
        t0 = time.perf_counter()
        try:
            scan = read_scan(path)
            image = normalise(scan.image, info["normalisation"], name=str(path))
            probs = predict_probs(model, image, input_size=int(info["input_size"]), device=device,
                                  batch_size=batch_size)
            out = output_path(output_dir, scan.name)
            write_nifti(out, probs.argmax(0).astype(np.uint8), scan.affine, scan.header)
            if save_probs:
                write_nifti(output_path(output_dir, scan.name, PROB_SUFFIX), probs.transpose(1, 2, 3, 0),
                            scan.affine, scan.header, dtype=np.float32)
        except ScribcimError as exc:
            if len(files) == 1:
                raise
            log.error("%s", exc)
            result.failed.append((path, str(exc)))
            continue
        result.outputs.append(out)
        seconds.append(time.perf_counter() - t0)
    write_labels_json(output_dir, info["class_names"], run_dir=str(run_dir), checkpoint=checkpoint,
                      iteration=ckpt["iteration"], value_meaning="label value -> class name")
    if seconds:
        result.seconds_per_volume = float(np.mean(seconds))
    log.info("wrote %d label volume(s) to %s (%.2f s per volume)%s", len(result.outputs), output_dir,
             result.seconds_per_volume, f"; {len(result.failed)} input(s) refused" if result.failed else "")
    return result
