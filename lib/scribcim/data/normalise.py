"""Intensity normalisation (:func:`normalise`): per volume, subtract the minimum, divide by the 99.5th
percentile (numpy ``method="higher"``, an order statistic) and clip to [0, 1].

It is scale-invariant (raw scanner units and [0, 1] give the same array) and a projection: an ACDC
HDF5 image (clipped at its 99th percentile and scaled to [0, 1], so about 1 % of its voxels,
at least 0.9 % in all 200 volumes, are exactly 1.0 and its minimum is 0.0) comes back
bit-identical. Training, ``evaluate`` and ``predict`` all apply it, with the spec stored in the
run folder's ``run_info.json``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .volumes import Volume

DEFAULT_NORMALISATION: dict[str, Any] = {"name": "min_percentile_clip", "percentile": 99.5, "method": "higher"}


def normalise(image: np.ndarray, spec: dict[str, Any] | None = None, *, name: str = "image") -> np.ndarray:
    """Per-volume intensity normalisation (see the module docstring); float32 in [0, 1]."""
    spec = spec or DEFAULT_NORMALISATION
    if spec.get("name") != DEFAULT_NORMALISATION["name"]:
        raise ConfigError(f"unknown normalisation {spec.get('name')!r} in the run folder: update scribcim")
    x = np.asarray(image, dtype=np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{name} has {int((~np.isfinite(x)).sum())} non-finite voxel(s) (NaN/inf): "
                        "fix or mask them in the file before segmenting")
    lo = float(x.min())
    hi = float(np.percentile(x, spec["percentile"], method=spec.get("method", "higher")))
    if not hi > lo:
        raise DataError(f"{name} has (nearly) constant intensities: it is not an image, check the file")
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def normalise_volumes(volumes: Sequence[Volume], spec: dict[str, Any] | None = None) -> list[Volume]:
    """:func:`normalise` applied to each volume's image (labels and scribbles untouched)."""
    return [dataclasses.replace(v, image=normalise(v.image, spec, name=v.case)) for v in volumes]
