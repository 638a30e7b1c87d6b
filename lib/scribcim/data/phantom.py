"""A tiny deterministic synthetic "cardiac" phantom with the ACDC interface. Unit tests only.

Each slice holds an LV blood pool (bright disk, label 3) inside a myocardial ring (dark,
label 2) with an RV crescent beside it (bright, label 1), on a noisy background. Scribbles
are short strokes inside each structure plus a background stroke; everything else is 4.
Never use it for a reported number.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .volumes import ACDC_SPACING, ACDC_VOLUMES, UNLABELLED, Volume


def _slice(h: int, w: int, rng: np.random.Generator, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h * (0.5 + rng.uniform(-0.05, 0.05)), w * (0.55 + rng.uniform(-0.05, 0.05))
    r_lv = min(h, w) * 0.14 * scale
    r_myo = r_lv * 1.45
    d = np.hypot(yy - cy, xx - cx)
    d_rv = np.hypot((yy - cy) / 1.3, xx - (cx - r_myo * 1.55))
    label = np.zeros((h, w), np.uint8)
    label[(d_rv < r_myo * 1.05) & (d >= r_myo)] = 1
    label[(d >= r_lv) & (d < r_myo)] = 2
    label[d < r_lv] = 3
    intensity = np.array([0.15, 0.75, 0.35, 0.85], np.float32)
    image = intensity[label] + rng.normal(0, 0.05, (h, w)).astype(np.float32)
    image = np.clip(image, 0, 1).astype(np.float32)
    scrib = np.full((h, w), UNLABELLED, np.uint8)
    row = int(round(cy))
    for cls, (x0, x1) in {3: (cx - r_lv * 0.5, cx + r_lv * 0.5),
                          2: (cx + r_lv * 1.05, cx + r_myo * 0.95),
                          1: (cx - r_myo * 2.1, cx - r_myo * 1.2),
                          0: (w * 0.05, w * 0.2)}.items():
        cols = np.arange(int(x0), int(x1) + 1)
        cols = cols[(cols >= 0) & (cols < w)]
        keep = label[row, cols] == cls
        scrib[row, cols[keep]] = cls
    return image, label, scrib


def phantom_volume(patient: int, frame: int = 1, *, seed: int = 0) -> Volume:
    """One phantom volume; deterministic in (patient, frame, seed)."""
    rng = np.random.default_rng([seed, patient, frame])
    h, w = int(rng.integers(40, 57)), int(rng.integers(40, 57))
    z = int(rng.integers(3, 6))
    parts = [_slice(h, w, rng, scale=1.0 - 0.08 * k) for k in range(z)]
    image, label, scrib = (np.stack(p) for p in zip(*parts))
    spacing = (float(rng.choice([5.0, 10.0])), float(rng.uniform(1.2, 1.8)), 0.0)
    spacing = (spacing[0], spacing[1], spacing[1])
    return Volume(case=f"patient{patient:03d}_frame{frame:02d}", patient=patient, image=image,
                  label=label, scribble=scrib, spacing=spacing)


def phantom_volumes(num_patients: int = 10, *, seed: int = 0) -> list[Volume]:
    """Two frames (01 and 02) for each of ``num_patients`` patients."""
    return [phantom_volume(p, f, seed=seed) for p in range(1, num_patients + 1) for f in (1, 2)]


def write_phantom(root: Path | str, num_patients: int = 10, *, seed: int = 0) -> Path:
    """Write the phantom in the ACDC WSL4MIS layout under ``root`` (for loader/CLI tests)."""
    import h5py

    root = Path(root)
    (root / ACDC_VOLUMES).mkdir(parents=True, exist_ok=True)
    vols = phantom_volumes(num_patients, seed=seed)
    for v in vols:
        with h5py.File(root / ACDC_VOLUMES / f"{v.case}.h5", "w") as f:
            f["image"], f["label"], f["scribble"] = v.image, v.label, v.scribble.astype(np.uint16)
    with (root / ACDC_SPACING).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case", "dz_mm", "dy_mm", "dx_mm"])
        for v in vols:
            w.writerow([v.case, *v.spacing])
    return root
