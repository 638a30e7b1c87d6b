"""Segment new scans with a trained run: ``predict(run_dir, inputs, output_dir)``.

Everything the preprocessing needs comes from the run folder (``config.json``,
``run_info.json``, ``checkpoints/``): the per-volume normalisation of training
(:func:`scribcim.data.normalise.normalise`) and the scale the model was trained at, in mm per model pixel
(:mod:`scribcim.evaluate.geometry`): each slice is mapped so that the heart appears at that scale, whatever
the scan's field of view and spacing, and the softmax is mapped back to the slice's own grid
(:func:`scribcim.evaluate.inference.predict_probs_at_scale`). Each input ``<name>.nii[.gz]`` or
``<name>.h5`` gives ``<name>_seg.nii.gz`` (labels 0 background, 1 RV, 2 MYO, 3 LV) with the
input's shape, affine and header, and optionally ``<name>_prob.nii.gz`` (x, y, z, class).
``labels.json`` beside them names the classes. The label volume is post-processed as the run chose on
its validation patients when it was evaluated (``postprocessing.json`` in the run folder, written by
``evaluate``; :mod:`scribcim.evaluate.postprocess`) unless ``postprocess=False``; the probabilities are
always the network's own. ``labels.json`` records what was applied.

A bad input (unreadable, truncated, not 3D, non-finite, too small to hold a heart) is skipped
with a one-line reason and leaves no output; the others are still written. A scan without a
voxel spacing is segmented at the training data's median spacing, with a warning. An output
folder that already holds files is refused unless ``overwrite``. See :data:`scribcim.data.scans.ORIENTATION`;
a NIfTI scan whose slices do not lie along its last axis (its coarsest voxel axis is another,
:func:`scribcim.data.scans.through_plane_axis`) is segmented with that axis moved last and its outputs put
back in its own orientation, with a warning.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ScribcimError
from ..progress import progress_bar
from ..runs.load import load_model, load_run_config
from .geometry import check_scan_size
from .inference import predict_probs_at_scale
from .postprocess import CANDIDATES, POSTPROCESSING
from .postprocess import apply as postprocess
from ..data.scans import (PRED_SUFFIX, PROB_SUFFIX, Scan, list_inputs, read_scan, slices_last, through_plane_axis,
                          to_input_orientation, with_spacing)
from ..data.normalise import normalise
from ..runs.info import read_json_file, read_run_info, run_scale, write_labels_json
from ..data.nifti import write_nifti

log = logging.getLogger(__name__)
CHECKPOINTS = ("best", "last", "latest")


@dataclass
class PredictResult:
    """What :func:`predict` wrote and what it could not.

    Attributes:
        outputs: label volumes written, one per good input.
        failed: (input, one-line reason) for each input that was refused.
        assumed: (input, what was assumed) for each input segmented without a voxel spacing of its own.
        reoriented: (input, what was done) for each NIfTI input whose slices were not along its last axis.
        seconds_per_volume: mean wall time per written volume (reading to writing); NaN if none.
    """

    outputs: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    assumed: list[tuple[Path, str]] = field(default_factory=list)
    reoriented: list[tuple[Path, str]] = field(default_factory=list)
    seconds_per_volume: float = float("nan")


def output_path(output_dir: Path, name: str, suffix: str = PRED_SUFFIX) -> Path:
    """Where the output of input ``name`` goes (the one place the naming is chosen)."""
    return Path(output_dir) / f"{name}{suffix}.nii.gz"


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    """Refuse an output path that is a file, or a folder that already holds something (unless ``overwrite``)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"--output {output_dir} is a file: pass a folder for the label volumes")
    held = sorted(p.name for p in output_dir.iterdir()) if output_dir.is_dir() else []
    if held and not overwrite:
        raise DataError(f"--output {output_dir} already holds {len(held)} file(s) (e.g. {held[0]}): choose an "
                        "empty or new folder, or pass --overwrite to replace the masks it holds")


def assumed_spacing(scan: Scan, scale: dict[str, Any]) -> tuple[Scan, str]:
    """``scan`` at the training data's median spacing, and a warning saying so (its own is missing)."""
    dz, dy, dx = (float(s) for s in scale["spacing_mm"])
    where = ("its NIfTI header has no valid voxel size" if scan.header is not None else
             "the HDF5 file has no 'spacing' and no row in the data layout's spacing.csv")
    note = (f"{scan.path}: {where}: assumed the training data's median spacing {dy:g} x {dx:g} mm in-plane, "
            f"{dz:g} mm between slices (the mask is right only if that is the scan's spacing; "
            + ("fix the header's pixdim" if scan.header is not None else
               "store 'spacing' = (dz, dy, dx) mm as an attribute of 'image', or convert the scan to NIfTI") + ")")
    return with_spacing(scan, (dz, dy, dx), "assumed: training median"), note


def run_postprocessing(run_dir: Path, checkpoint: str, enabled: bool = True) -> str:
    """The post-processing ``predict`` applies for ``checkpoint`` of a run: what ``evaluate`` chose on validation
    (``postprocessing.json``), ``none`` if switched off or never chosen (saying so)."""
    path = Path(run_dir) / POSTPROCESSING
    if not enabled:
        return "none"
    if not path.is_file():
        log.info("%s not found (run not evaluated with this scribcim): no post-processing", path)
        return "none"
    chosen = read_json_file(path, "post-processing choice", "run `scribcim evaluate` on the run again")
    entry = chosen.get(checkpoint) if isinstance(chosen, dict) else None
    if not isinstance(entry, dict) or entry.get("choice") not in CANDIDATES:
        log.info("%s holds no choice for checkpoint %r: no post-processing", path, checkpoint)
        return "none"
    return str(entry["choice"])


def reorientation_note(scan: Scan) -> str:
    """What :func:`predict` does with a NIfTI scan whose slices do not lie along its last axis (for the warning)."""
    from nibabel.orientations import aff2axcodes
    axis = through_plane_axis(scan)
    sizes = " x ".join(f"{s:g}" for s in scan.spacing[::-1])
    codes = "".join(str(c) for c in aff2axcodes(scan.affine))
    return (f"{scan.path}: its slices lie along NIfTI axis {axis} (voxel sizes {sizes} mm, axis codes {codes}), "
            "not along the last axis: segmented with that axis moved last, the mask (and probabilities) put back "
            "in the input's orientation, same shape and affine")


def _segment(path: Path, model: Any, info: dict[str, Any], scale: dict[str, Any], output_dir: Path, *,
             device: str, batch_size: int, save_probs: bool, result: PredictResult, post: str = "none") -> Path:
    """Read, check, normalise, segment and write one scan; its label volume's path."""
    scan = read_scan(path)
    if not scan.spacing_source:
        scan, note = assumed_spacing(scan, scale)
        log.warning("%s", note)
        result.assumed.append((path, note))
    if through_plane_axis(scan) != 2:
        note = reorientation_note(scan)
        log.warning("%s", note)
        result.reoriented.append((path, note))
    scan, back = slices_last(scan)
    size, p = int(info["input_size"]), float(scale["mm_per_pixel"])
    check_scan_size(str(path), scan.image.shape, scan.spacing, scale, size)
    image = normalise(scan.image, info["normalisation"], name=str(path))
    probs = predict_probs_at_scale(model, image, spacing_yx=scan.spacing[1:], mm_per_pixel=(p, p),
                                   input_size=size, device=device, batch_size=batch_size)
    out = output_path(output_dir, scan.name)
    labels = to_input_orientation(postprocess(probs.argmax(0).astype(np.uint8), post), back)
    try:
        write_nifti(out, labels, scan.affine, scan.header)
        if save_probs:
            probs = np.stack([to_input_orientation(c, back) for c in probs])
            write_nifti(output_path(output_dir, scan.name, PROB_SUFFIX), probs.transpose(1, 2, 3, 0),
                        scan.affine, scan.header, dtype=np.float32)
    except OSError as exc:
        raise DataError(f"cannot write {out} ({exc.strerror or type(exc).__name__}): choose a writable --output "
                        "folder with free space") from None
    return out


def predict(run_dir: Path | str, inputs: Path | str, output_dir: Path | str, *, checkpoint: str = "best",
            device: str = "cpu", batch_size: int = 16, save_probs: bool = False, overwrite: bool = False,
            progress: bool = True, postprocess: bool = True) -> PredictResult:
    """Segment one scan or a folder of scans with a trained run.

    Args:
        run_dir: Run folder written by ``scribcim train``.
        inputs: A ``.nii``/``.nii.gz``/``.h5`` file, or a folder of them.
        output_dir: Folder for ``<name>_seg.nii.gz`` (created if needed) and ``labels.json``.
        checkpoint: ``best`` (on validation) or ``last``.
        device: ``cpu`` or ``cuda[:N]``.
        batch_size: Slices per forward pass (>= 1).
        save_probs: Also write ``<name>_prob.nii.gz`` (float32, x, y, z, class).
        overwrite: Write into an ``output_dir`` that already holds files (same-named masks are replaced).
        progress: Show a progress bar over volumes.
        postprocess: Apply the post-processing the run chose on its validation patients (False: raw argmax).

    Returns:
        The written outputs, the refused inputs with their reasons, the inputs whose spacing was
        assumed, and seconds per volume.

    Raises:
        ConfigError: Bad run folder or option, missing or old-format checkpoint, unavailable device.
        DataError: No inputs, an output folder that is a file or not empty, or the only input is bad.
    """
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} not found: pass the folder `scribcim train` wrote with --run")
    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"checkpoint must be best or last, got {checkpoint!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be a whole number >= 1 (slices per forward pass), got {batch_size!r}: "
                          "pass e.g. --batch-size 16")
    check_output_dir(output_dir, overwrite)
    config = load_run_config(run_dir)
    info = read_run_info(run_dir, config)
    files = list_inputs(inputs)
    model, ckpt = load_model(run_dir, checkpoint, device)
    scale = run_scale(info, config)
    post = run_postprocessing(run_dir, checkpoint, postprocess)
    result, seconds = PredictResult(), []
    for path in progress_bar(files, enabled=progress, desc="predict", unit="volume"):
        t0 = time.perf_counter()
        try:
            out = _segment(path, model, info, scale, output_dir, device=device, batch_size=batch_size,
                           save_probs=save_probs, result=result, post=post)
        except ScribcimError as exc:
            if len(files) == 1:
                raise
            log.error("%s", exc)
            result.failed.append((path, str(exc)))
            continue
        result.outputs.append(out)
        seconds.append(time.perf_counter() - t0)
    if not result.outputs:
        log.info("no label volume written: all %d input(s) refused", len(files))
        return result
    write_labels_json(output_dir, info["class_names"], run_dir=str(run_dir), checkpoint=checkpoint,
                      iteration=ckpt["iteration"], value_meaning="label value -> class name",
                      mm_per_model_pixel=float(scale["mm_per_pixel"]), postprocessing=post)
    result.seconds_per_volume = float(np.mean(seconds))
    log.info("wrote %d label volume(s) to %s (%.2f s per volume)%s", len(result.outputs), output_dir,
             result.seconds_per_volume, f"; {len(result.failed)} input(s) refused" if result.failed else "")
    return result
