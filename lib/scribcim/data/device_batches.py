"""Training slices resident on the training device, and batches augmented there with torch ops.

The GPU counterpart of :func:`scribcim.data.slices.make_batch`: :class:`DeviceSlices` holds every
training slice, already resized to the input size, as tensors on the device, and
:func:`make_device_batch` gathers and augments a batch there with one ``F.affine_grid`` +
``F.grid_sample(mode="nearest")`` call, which is far faster than the per-slice numpy path.

Same augmentation distribution as :func:`scribcim.data.augment.augment_slice`: with probability 0.5
a rot90 (k uniform in 0..3) followed by a flip (axis 0 or 1, uniform); otherwise, with probability
0.5, a rotation by a uniform angle in [-20, 20] degrees (same sense as ``scipy.ndimage.rotate``);
otherwise unchanged. Pixels that come from outside the slice (source coordinates outside [0, S-1],
as scipy's ``mode="constant"``) get 0 in the image and label and the unlabelled value 4 in the
scribble. rot90 and flip are integer matrices in the affine transform, so they are exact pixel
permutations (a test checks them against numpy; rotations match scipy's up to rounding ties).

Documented deviations from the CPU path:

* Slices are resized (nearest, as :func:`~scribcim.data.augment.resize_nearest`) *before* augmentation,
  the CPU path augments at the native size and resizes after. For a non-square slice a rotation thus
  acts on the resized (stretched) grid, and nearest rounding differs at some pixels.
* The random stream is torch's, not numpy's: a batch is a pure function of (seed, iteration) but not the
  same batch as :func:`make_batch` draws. The indices and augmentation parameters are drawn on the host
  with a CPU ``torch.Generator`` (a few dozen numbers) and sent with two small non-blocking copies, so
  they do not depend on the device type or GPU model (a CUDA generator's stream need not be the same
  on every GPU). Resume stays exact; only nearest rounding at ties of a rotation could differ between
  devices.

No host synchronisation: nothing reads a device tensor back, and the parameters travel from pinned
memory with ``non_blocking=True`` on CUDA.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .augment import MAX_ANGLE, resize_nearest
from .frame import Frame
from .slices import SliceSet, frame_slice
from .volumes import UNLABELLED

log = logging.getLogger(__name__)

# The linear part of the output -> input map for np.flip(np.rot90(a, k), axis), on (x, y) = (column, row)
# normalised coordinates: rot90 once is (x, y) -> (-y, x), a flip of axis 0 (rows) negates y, of axis 1 x.
_ROT90 = np.array([[0.0, -1.0], [1.0, 0.0]])
_FLIPS = (np.diag([1.0, -1.0]), np.diag([-1.0, 1.0]))


def dihedral_matrix(k: int, axis: int) -> np.ndarray:
    """2x2 integer matrix (float) with which ``affine_grid`` reproduces ``np.flip(np.rot90(a, k), axis)``."""
    return np.linalg.matrix_power(_ROT90, k) @ _FLIPS[axis]


_DIHEDRAL = torch.tensor(np.stack([dihedral_matrix(k, a) for k in range(4) for a in range(2)]), dtype=torch.float32)


@dataclass
class DeviceSlices:
    """Every training slice, resized to ``size`` x ``size``, as tensors on ``device``.

    ``images`` float32 (N,1,S,S); ``scribbles`` and ``labels`` uint8 (N,S,S) (scribble 4 = unlabelled).
    """

    images: torch.Tensor
    scribbles: torch.Tensor
    labels: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @classmethod
    def from_slices(cls, slices: SliceSet, size: int, device: str | torch.device,
                    pixel_mm: float | None = None) -> "DeviceSlices":
        """Resize every slice of ``slices`` (nearest, as ``resize_nearest``) and move them to ``device``.

        ``pixel_mm``: map each slice into the millimetre view instead (:func:`scribcim.data.slices.frame_slice`
        un-augmented, what ``predict`` feeds the model); the device then augments within that window.
        """
        if len(slices) == 0:
            raise ValueError("no training slices to put on the device")
        shape = (size, size)
        if pixel_mm is not None:
            frame = Frame(size, pixel_mm)
            images, scribbles, labels = (np.stack(a) for a in zip(*(frame_slice(slices, i, frame)
                                                                     for i in range(len(slices)))))
            images = images.astype(np.float32)[:, None]
        else:
            images = np.stack([resize_nearest(np.asarray(a, np.float32), shape) for a in slices.images])[:, None]
            scribbles = np.stack([resize_nearest(a, shape) for a in slices.scribbles])
            labels = np.stack([resize_nearest(a, shape) for a in slices.labels])
        if scribbles.min() < 0 or scribbles.max() > UNLABELLED or labels.min() < 0 or labels.max() >= UNLABELLED:
            raise ValueError(f"scribbles must lie in 0..{UNLABELLED} and labels in 0..{UNLABELLED - 1}")
        out = cls(images=torch.from_numpy(images).to(device),
                  scribbles=torch.from_numpy(scribbles.astype(np.uint8)).to(device),
                  labels=torch.from_numpy(labels.astype(np.uint8)).to(device))
        mib = sum(t.numel() * t.element_size() for t in (out.images, out.scribbles, out.labels)) / 2 ** 20
        log.info("%d training slices at %dx%d on %s (%.1f MiB)", len(out), size, size, out.device, mib)
        return out


@dataclass
class BatchParams:
    """What :func:`batch_params` drew for one batch (CPU tensors, B rows).

    ``mode``: 0 unchanged, 1 rot90 + flip (``k``, ``axis``), 2 rotation by ``angle`` degrees.
    ``theta``: (B,2,3) float32, the output -> input affine map for ``F.affine_grid``.
    """

    index: torch.Tensor
    mode: torch.Tensor
    k: torch.Tensor
    axis: torch.Tensor
    angle: torch.Tensor
    theta: torch.Tensor


def batch_generator(seed: int, iteration: int) -> torch.Generator:
    """A CPU generator whose state is a pure function of (seed, iteration) (both >= 0)."""
    state = np.random.SeedSequence([seed, iteration]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def batch_params(num_slices: int, *, batch_size: int, seed: int, iteration: int,
                 augment: bool = True) -> BatchParams:
    """Slice indices and augmentation of the batch of ``iteration``; see the module docstring.

    Indices without replacement unless there are fewer slices than ``batch_size`` (as ``make_batch``).
    """
    g = batch_generator(seed, iteration)
    if num_slices >= batch_size:
        index = torch.randperm(num_slices, generator=g)[:batch_size]
    else:
        index = torch.randint(0, num_slices, (batch_size,), generator=g)
    u = torch.rand(batch_size, 3, generator=g, dtype=torch.float64)
    k = torch.randint(0, 4, (batch_size,), generator=g)
    axis = torch.randint(0, 2, (batch_size,), generator=g)
    angle = (2.0 * u[:, 2] - 1.0) * MAX_ANGLE
    dihedral = u[:, 0] > 0.5
    rotate = ~dihedral & (u[:, 1] > 0.5)
    if not augment:
        dihedral, rotate = torch.zeros_like(dihedral), torch.zeros_like(rotate)
    mode = dihedral.long() + 2 * rotate.long()
    rad = angle * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2).float()
    lin = torch.eye(2).expand(batch_size, 2, 2)
    lin = torch.where(rotate[:, None, None], rot, lin)
    lin = torch.where(dihedral[:, None, None], _DIHEDRAL[k * 2 + axis], lin)
    theta = torch.cat([lin, torch.zeros(batch_size, 2, 1)], 2).contiguous()
    return BatchParams(index=index, mode=mode, k=k, axis=axis, angle=angle.float(), theta=theta)


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy that does not wait for the device (pinned memory, non-blocking) on CUDA."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def make_device_batch(ds: DeviceSlices, *, batch_size: int, seed: int, iteration: int,
                      augment: bool = True) -> dict[str, torch.Tensor]:
    """The batch of ``iteration``, made on ``ds.device``: the keys and dtypes of ``make_batch``.

    image (B,1,S,S) float32, scribble and label (B,S,S) int64, origin (B,2) int64 = (iteration, slice
    index). A pure function of (``ds``, ``seed``, ``iteration``); no host synchronisation.
    """
    p = batch_params(len(ds), batch_size=batch_size, seed=seed, iteration=iteration, augment=augment)
    origin = torch.stack([torch.full_like(p.index, iteration), p.index], 1)
    dev = ds.device
    origin = _to_device(origin, dev)
    idx = origin[:, 1]
    image = ds.images.index_select(0, idx)
    scribble = ds.scribbles.index_select(0, idx)
    label = ds.labels.index_select(0, idx)
    if augment:
        theta = _to_device(p.theta, dev)
        stack = torch.cat([image, scribble.unsqueeze(1).float(), label.unsqueeze(1).float()], 1)
        grid = F.affine_grid(theta, list(stack.shape), align_corners=False)
        out = F.grid_sample(stack, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        # inside the slice: source pixel coordinates within [0, S-1], as scipy's mode="constant" (grid_sample
        # alone would also keep the half-pixel band beyond the border); the margin absorbs float error
        s = ds.size
        inside = (grid.abs() <= (s - 1 + 1e-3) / s).all(-1)
        image = torch.where(inside.unsqueeze(1), out[:, :1], 0.0)
        scribble = torch.where(inside, out[:, 1].round().long(), UNLABELLED)
        label = torch.where(inside, out[:, 2].round().long(), 0)
    else:
        scribble, label = scribble.long(), label.long()
    return {"image": image, "scribble": scribble, "label": label, "origin": origin}
