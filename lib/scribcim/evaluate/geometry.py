"""The physical scale of the network's input, and mapping a scan's slices to it and back.

A run in the millimetre view (``pixel_mm`` set, :mod:`scribcim.data.frame`) trains, validates and is
evaluated with one model pixel = ``pixel_mm`` mm in a window centred on the slice, and records exactly
that as ``run_info.json["scale"]["mm_per_pixel"]``. A whole-slice run (the released protocol) resizes
every whole slice to ``input_size`` x ``input_size`` (nearest neighbour), so one model pixel covers
``FOV / input_size`` mm, and that varies from slice to slice with the scanner's field of view (ACDC:
230-480 mm); it records the median over its training slices of ``FOV / input_size`` (``FOV`` =
sqrt(FOV_y x FOV_x), the side of a square of the same area).

``predict`` maps each slice of a new scan so that one model pixel covers that many mm in both
directions: the model grid is centred on the slice, sampled nearest-neighbour with the same
pixel-centre convention as training (:func:`scribcim.data.frame.frame_indices`), and mirrored
at the scan's borders where it reaches past them: a constant (zero) border around a cropped scan
is an edge the model never saw in training, and it costs a quick ACDC model 0.1-0.25 Dice on
scans cropped to 45-60 % of their field of view, where mirroring costs 0-0.05 (measured). The
softmax comes back bilinearly to the scan's own grid; scan pixels the model grid does not reach
(a field of view wider than ``input_size x mm_per_pixel``) are background. A slice whose own
``FOV / input_size`` equals the target is mapped exactly as ``evaluate`` maps it (whole-slice
resize), which the tests check. A cropped or resampled scan thus shows the heart at the scale of
training, whatever its field of view and spacing.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.frame import frame_indices
from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Median over slices of sqrt(FOV_y x FOV_x) in mm and median voxel spacing (dz, dy, dx) in mm, measured
#: on all 200 ACDC volumes and the 25 MSCMR training volumes: the fallback for runs that predate "scale".
KNOWN_SCALE: dict[str, dict[str, Any]] = {
    "acdc": {"fov_mm": 339.9, "spacing_mm": [10.0, 1.5625, 1.5625]},
    "mscmr": {"fov_mm": 350.0, "spacing_mm": [5.0, 0.729, 0.729]},
}
MIN_PIXELS = 32            # a slice narrower than this cannot show a heart in any detail
MIN_FOV_FRACTION = 0.25    # of the model's field of view (input_size x mm_per_pixel; about 85 mm for ACDC)


def slice_fov_mm(shape_hw: Sequence[int], spacing_yx: Sequence[float]) -> float:
    """In-plane field of view of a slice in mm: sqrt(FOV_y x FOV_x)."""
    return float(np.sqrt(shape_hw[0] * spacing_yx[0] * shape_hw[1] * spacing_yx[1]))


def training_scale(volumes: Sequence[Any], input_size: int, pixel_mm: float | None = None) -> dict[str, Any]:
    """The ``scale`` entry of ``run_info.json`` from the (training) volumes a run learns from: with ``pixel_mm``
    (the millimetre view, :class:`scribcim.data.frame.Frame`) exactly that, else the median over slices."""
    fov = [slice_fov_mm(v.image.shape[1:], v.spacing[1:]) for v in volumes for _ in range(v.num_slices)]
    if not fov:
        raise ConfigError("no training slices to measure the input scale on: check the split")
    spacing = [float(s) for s in np.median(np.array([v.spacing for v in volumes], dtype=float), axis=0)]
    if pixel_mm is not None:
        return {"mm_per_pixel": float(pixel_mm), "fov_mm": float(input_size * pixel_mm),
                "spacing_mm": spacing, "slices": len(fov),
                "source": "profile geometry: fixed mm per pixel, window centred on the slice"}
    return {"mm_per_pixel": float(np.median(fov)) / input_size, "fov_mm": float(np.median(fov)),
            "spacing_mm": spacing, "slices": len(fov), "source": "training slices"}


def fallback_scale(dataset: str, input_size: int) -> dict[str, Any]:
    """``scale`` for a run folder without one: the dataset's typical values (phantom: measured)."""
    if dataset == "phantom":
        from ..data.phantom import phantom_volumes
        scale = training_scale(phantom_volumes(10), input_size)
    elif dataset in KNOWN_SCALE:
        known = KNOWN_SCALE[dataset]
        scale = {"mm_per_pixel": known["fov_mm"] / input_size, "fov_mm": known["fov_mm"],
                 "spacing_mm": list(known["spacing_mm"])}
    else:
        raise ConfigError(f"no typical input scale known for dataset {dataset!r}: retrain the run with this "
                          "scribcim version (it records the scale in run_info.json)")
    return {**scale, "source": f"typical {dataset} values (run folder predates the recorded scale)"}


def check_scan_size(name: str, shape_zyx: Sequence[int], spacing: Sequence[float], scale: dict[str, Any],
                    input_size: int) -> None:
    """Raise :class:`DataError` for a scan too small to hold a heart at the model's scale."""
    h, w = int(shape_zyx[1]), int(shape_zyx[2])
    fov_y, fov_x = h * float(spacing[1]), w * float(spacing[2])
    if min(h, w) < MIN_PIXELS:
        raise DataError(f"{name} has {h}x{w} pixels per slice, fewer than {MIN_PIXELS}: it cannot show a heart; "
                        "segment the full short-axis image, not a thumbnail or crop")
    least = MIN_FOV_FRACTION * input_size * float(scale["mm_per_pixel"])
    if min(fov_y, fov_x) < least:
        raise DataError(f"{name} covers only {fov_y:.0f} x {fov_x:.0f} mm in-plane (spacing {spacing[1]:g} x "
                        f"{spacing[2]:g} mm), under the {least:.0f} mm this model needs to see a heart: "
                        "check the file's voxel spacing, or segment a larger field of view")


def to_model(image: np.ndarray, spacing_yx: Sequence[float], mm_per_pixel: Sequence[float], size: int
             ) -> np.ndarray:
    """Slices (z, h, w) -> (z, size, size) with one model pixel covering ``mm_per_pixel`` (y, x) mm
    (nearest; mirrored past the scan's borders): :func:`scribcim.data.frame.frame_indices`, the one mapping."""
    rows, cols, _ = frame_indices(image.shape[1:], spacing_yx, mm_per_pixel, size)
    return np.ascontiguousarray(image[:, rows, cols], dtype=np.float32)


def from_model(probs: torch.Tensor, shape_hw: Sequence[int], spacing_yx: Sequence[float],
               mm_per_pixel: Sequence[float]) -> torch.Tensor:
    """Softmax (B, C, size, size) on the model grid -> (B, C, h, w) on the scan grid (bilinear; background
    where the model grid does not reach)."""
    b, c, size, _ = probs.shape
    coords = []
    for n, s, p in zip(shape_hw, spacing_yx, mm_per_pixel):  # normalised [-1, 1] coordinates, align_corners=False
        coords.append(torch.as_tensor((np.arange(n) + 0.5 - n / 2) * (2.0 * float(s) / (size * float(p))),
                                      dtype=probs.dtype, device=probs.device))
    gy, gx = torch.meshgrid(coords[0], coords[1], indexing="ij")
    grid = torch.stack([gx, gy], dim=-1).expand(b, -1, -1, -1)
    out = F.grid_sample(probs, grid, mode="bilinear", padding_mode="border", align_corners=False)
    outside = (gy.abs() > 1) | (gx.abs() > 1)
    if bool(outside.any()):
        out[:, :, outside] = 0.0
        out[:, 0, outside] = 1.0
    return out
