"""The network's view of a slice: one mapping from a scan's pixels to the model grid, for training and inference.

A :class:`Frame` is either the *whole-slice* view (``pixel_mm`` None: every slice resized whole to
``size`` x ``size``, as the released code does; one model pixel then covers ``FOV / size`` mm, which
varies with the scanner's field of view) or the *millimetre* view (``pixel_mm`` set: one model pixel
covers ``pixel_mm`` mm in both directions, and the model sees a square window of ``size x pixel_mm``
mm centred on the slice). The millimetre view is what the field does (Valvano et al.: 1.51 mm, 224 px;
Baumgartner et al., CycleMix: 1.37 mm, 212 px): the heart has the same size in every image, and the far
field that scribbles never reach is mostly outside the window.

Sampling is nearest-neighbour with pixel-centre alignment (scan pixel k spans [k, k+1)). Where the window
reaches past a scan's borders the image and the dense label are mirrored (a constant border is an edge
the model would never see elsewhere) and the scribble is unlabelled (nobody drew there).
:func:`frame_indices` is the only place the mapping is computed: training batches
(:func:`scribcim.data.slices.make_batch`, with a random rotation, scale and shift for augmentation),
validation, ``evaluate`` and ``predict`` (:mod:`scribcim.evaluate.inference`) all call it, so an
un-augmented training slice is, pixel for pixel, what ``predict`` feeds the model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .augment import resize_nearest

_EPS = 1e-6  # floor() guard: a sample exactly on a pixel border goes to the next pixel, as resize_nearest


@dataclass(frozen=True)
class Frame:
    """How slices become the network's input: ``size`` px, and ``pixel_mm`` mm per pixel (None: whole slice)."""

    size: int
    pixel_mm: float | None = None

    def __post_init__(self) -> None:
        if self.pixel_mm is not None and not (np.isfinite(self.pixel_mm) and self.pixel_mm > 0):
            raise ConfigError(f"pixel_mm must be > 0 mm (or unset for whole-slice resizing), got {self.pixel_mm}")

    @property
    def window_mm(self) -> float | None:
        """Side of the centred window in mm (None for the whole-slice view)."""
        return None if self.pixel_mm is None else self.size * self.pixel_mm

    def indices(self, shape_hw: Sequence[int], spacing_yx: Sequence[float], **augment: Any
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`frame_indices` of a millimetre view for a slice of ``shape_hw`` px at ``spacing_yx`` mm (``augment``:
        ``angle_deg``, ``scale``, ``shift_mm``)."""
        if self.pixel_mm is None:
            raise ConfigError("a whole-slice view has no millimetre window: resize the slice (resize_nearest)")
        p = float(self.pixel_mm)
        return frame_indices(shape_hw, spacing_yx, (p, p), self.size, **augment)

    def describe(self) -> dict[str, Any]:
        """The geometry as a run records it (``run_info.json["geometry"]``)."""
        if self.pixel_mm is None:
            return {"kind": "whole_slice", "input_size": self.size,
                    "note": "every slice resized whole to input_size (mm per pixel varies with the field of view)"}
        return {"kind": "millimetre", "input_size": self.size, "pixel_mm": float(self.pixel_mm),
                "window_mm": float(self.window_mm), "centre": "slice centre",
                "outside_scan": "image and label mirrored, scribble unlabelled",
                "outside_window": "background"}


def frame_of(config: Any) -> Frame:
    """The :class:`Frame` of a run's config (its ``input_size`` and ``pixel_mm``; older configs: whole slice)."""
    return Frame(int(config.input_size), config.pixel_mm)


def mirror(pos: np.ndarray, n: int) -> np.ndarray:
    """Pixel indices folded back into [0, n) by mirroring at the borders (numpy's ``symmetric`` padding)."""
    pos = np.mod(pos, 2 * n)
    return np.where(pos < n, pos, 2 * n - 1 - pos)


def _axis(n: int, spacing: float, mm_per_pixel: float, size: int, scale: float, shift_mm: float) -> np.ndarray:
    """Scan coordinate of each model pixel centre along one axis (no rotation)."""
    return n / 2 + (np.arange(size) + 0.5 - size / 2) * (mm_per_pixel / (spacing * scale)) + shift_mm / spacing


def frame_indices(shape_hw: Sequence[int], spacing_yx: Sequence[float], mm_per_pixel: Sequence[float], size: int,
                  *, angle_deg: float = 0.0, scale: float = 1.0, shift_mm: Sequence[float] = (0.0, 0.0)
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, inside) of the scan pixel each model pixel samples; rows/cols already mirrored into the scan.

    The model grid is centred on the slice centre (plus ``shift_mm``), one model pixel covering
    ``mm_per_pixel`` (y, x) mm divided by ``scale``, turned by ``angle_deg``. Without a rotation the
    arrays broadcast as (size, 1) and (1, size); ``inside`` marks samples that fell inside the scan.
    """
    h, w = int(shape_hw[0]), int(shape_hw[1])
    dy, dx = float(spacing_yx[0]), float(spacing_yx[1])
    if angle_deg == 0.0:
        ry = _axis(h, dy, float(mm_per_pixel[0]), size, scale, float(shift_mm[0]))[:, None]
        rx = _axis(w, dx, float(mm_per_pixel[1]), size, scale, float(shift_mm[1]))[None, :]
    else:
        t = np.deg2rad(angle_deg)
        uy = ((np.arange(size) + 0.5 - size / 2) * float(mm_per_pixel[0]))[:, None]
        ux = ((np.arange(size) + 0.5 - size / 2) * float(mm_per_pixel[1]))[None, :]
        ry = h / 2 + ((np.cos(t) * uy - np.sin(t) * ux) / scale + float(shift_mm[0])) / dy
        rx = w / 2 + ((np.sin(t) * uy + np.cos(t) * ux) / scale + float(shift_mm[1])) / dx
    rows, cols = (np.floor(r + _EPS).astype(np.int64) for r in (ry, rx))
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    return mirror(rows, h), mirror(cols, w), inside


def sample(arr: np.ndarray, rows: np.ndarray, cols: np.ndarray, inside: np.ndarray | None = None,
           fill: float | None = None) -> np.ndarray:
    """``arr[..., rows, cols]`` on the last two axes; with ``fill``, samples outside the scan get ``fill``."""
    out = arr[..., rows, cols]
    if fill is not None and inside is not None and not bool(inside.all()):
        out = np.where(np.broadcast_to(inside, out.shape[-2:]), out, np.asarray(fill, dtype=arr.dtype))
    return out


def to_frame(arr: np.ndarray, spacing_yx: Sequence[float], frame: Frame, *, fill: float | None = None
             ) -> np.ndarray:
    """Slices (..., h, w) on the model grid (..., size, size), un-augmented: what ``predict`` feeds the model.

    ``fill``: the value of samples outside the scan (scribbles: unlabelled); None mirrors the scan.
    """
    if frame.pixel_mm is None:
        return resize_nearest(arr, (frame.size, frame.size))
    return sample(arr, *frame.indices(arr.shape[-2:], spacing_yx), fill)
