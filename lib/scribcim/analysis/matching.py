"""What a trained CIM network matched for a pixel of a test slice, and where the matched entries came from.

Attention comes from the model's own forward (``return_attention=True``; :mod:`scribcim.models.cim`): per pixel,
its cell, weights over all C*M bank entries (class-major), mass per class, top-k entries with their ``bank_source``
and token weights; per-class maps; each top entry's augmented training image, redrawn with ``make_batch``. Slice
pixel row r maps to input pixel floor((r + 0.5) * S / H) (the nearest resize of
:mod:`scribcim.evaluate.inference`), then to its cell of the matching grid. A JSON record holds all a figure
needs but images; :mod:`scribcim.viz.matching` draws it without a model.

A run in the millimetre view (``pixel_mm``, :mod:`scribcim.data.frame`) is inspected in the model's window:
:func:`in_view` maps every slice the views look at into it (as ``predict`` does), so slices, pixels, cells and
maps are all S x S there (the resize above is then the identity), and training batches are redrawn with the
run's ``pixel_mm``. A whole-slice run (``pixel_mm`` None, every older run) is inspected on the scan's own grid.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from ..config import TrainConfig
from ..data import load_volumes
from ..data.augment import resize_nearest
from ..data.frame import Frame, to_frame
from ..data.slices import SliceSet, make_batch
from ..data.volumes import UNLABELLED, Volume
from ..errors import ConfigError
from ..runs.load import load_model, load_run_config, median_case, run_meta
from ..data.normalise import normalise_volumes
from ..training.methods import get_method
from ..provenance import git_state, repo_relative, versions
from ..runs.log import write_json
from ..training.loop import reseed_step

log = logging.getLogger(__name__)
RECORD_FORMAT = 1


def _volumes(meta: dict[str, Any], data_root: str | Path | None, which: str | list[int]) -> list[Volume]:
    return load_volumes(meta["dataset"], which, fold=meta["fold"], data_root=data_root,
                        val_patients=meta["val_patients"])


def training_slices(meta: dict[str, Any], data_root: str | Path | None = None) -> SliceSet:
    """The run's training slices built as :func:`scribcim.training.loop.train` builds them (simulated scribbles
    redrawn)."""
    from ..data.scribbles import training_scribbles
    vols = training_scribbles(_volumes(meta, data_root, "train"), meta["scribbles"], meta["inconsistency"],
                              seed=meta["scribble_seed"])
    return SliceSet.from_volumes(normalise_volumes(vols, meta["normalisation"]))


def load_case(meta: dict[str, Any], case: str, data_root: str | Path | None = None,
              patient: int | None = None) -> Volume:
    """Test volume ``case`` of the run's fold (or of ``patient``), normalised as the run normalises."""
    vols = _volumes(meta, data_root, "test" if patient is None else [patient])
    found = [v for v in vols if v.case == case]
    if not found:
        raise ConfigError(f"no case {case!r} among the test cases of {meta['dataset']} fold {meta['fold']}: "
                          f"choose one of {sorted(v.case for v in vols)}")
    return normalise_volumes(found, meta["normalisation"])[0]


def run_frame(meta: dict[str, Any]) -> Frame | None:
    """The run's millimetre view (:func:`scribcim.runs.load.run_meta`); None for a whole-slice run (older runs too)."""
    pixel_mm = meta.get("pixel_mm")
    return None if pixel_mm is None else Frame(int(meta["input_size"]), float(pixel_mm))


def in_view(vol: Volume, meta: dict[str, Any]) -> Volume:
    """``vol`` as the views show it: itself for a whole-slice run; for a millimetre-view run every slice in the
    model's window (:func:`scribcim.data.frame.to_frame`, what ``predict`` feeds the model: image and label
    mirrored past the scan's borders, scribble unlabelled there), at spacing (dz, pixel_mm, pixel_mm)."""
    frame = run_frame(meta)
    if frame is None:
        return vol
    yx, mm = vol.spacing[1:], float(frame.pixel_mm)
    label = None if vol.label is None else to_frame(vol.label, yx, frame)
    return replace(vol, image=to_frame(vol.image, yx, frame), label=label,
                   scribble=to_frame(vol.scribble, yx, frame, fill=UNLABELLED), spacing=(vol.spacing[0], mm, mm))


def start_pixel(scan: Volume, z: int, meta: dict[str, Any]) -> tuple[int, int]:
    """:func:`default_pixel` of slice ``z`` of ``scan`` (on its own grid) in the coordinates :func:`in_view` shows:
    in the window, the centre of the real LV (its mirrored copies past the scan's borders are left out)."""
    frame = run_frame(meta)
    if frame is None:
        return default_pixel(scan.label[z])
    return default_pixel(to_frame(scan.label[z], scan.spacing[1:], frame, fill=0))


def default_pixel(label: np.ndarray, cls: int = 3) -> tuple[int, int]:
    """Centre of mass of class ``cls`` (LV) in a label slice; of the foreground, or the centre, if absent."""
    for mask in (label == cls, label > 0):
        if mask.any():
            return tuple(int(round(v)) for v in ndimage.center_of_mass(mask))  # type: ignore[return-value]
    log.warning("no foreground in this slice: using its centre as the pixel")
    return label.shape[0] // 2, label.shape[1] // 2


def _cells(n: int, size: int, grid: int) -> np.ndarray:
    """Bottleneck cell of each of ``n`` slice pixels along one axis (via the input pixel the resize maps it to)."""
    return np.minimum(((np.arange(n) + 0.5) * size / n).astype(np.int64), size - 1) * grid // size


def upsample(maps: np.ndarray, shape: Sequence[int], input_size: int) -> np.ndarray:
    """(..., h, w) bottleneck maps to (..., H, W): every slice pixel takes the value of its cell."""
    return maps[..., _cells(shape[0], input_size, maps.shape[-2])[:, None],
                _cells(shape[1], input_size, maps.shape[-1])[None, :]]


@dataclass
class SliceAttention:
    """An eval-mode forward of a slice (H, W) = ``shape`` at bottleneck size (h, w) = ``grid``: bank weights
    ``pixel`` (h*w, C*M; entry c*M + m), ``token`` (h*w, C) or None, pixel ``keys`` (h*w, Dk), ``sources`` (C, M, 5)."""

    pixel: np.ndarray
    token: np.ndarray | None
    keys: np.ndarray
    sources: np.ndarray
    shape: tuple[int, int]
    grid: tuple[int, int]
    input_size: int

    def cell_of(self, pixel: Sequence[int]) -> tuple[int, int]:
        """Bottleneck cell (row, col) of a slice pixel (row, col)."""
        if not all(0 <= int(p) < n for p, n in zip(pixel, self.shape)):
            raise ConfigError(f"pixel {tuple(pixel)} lies outside the slice of shape {self.shape}")
        return tuple(int(_cells(n, self.input_size, g)[int(p)]) for p, n, g in zip(pixel, self.shape, self.grid))

    def maps(self) -> dict[str, np.ndarray | None]:
        """Per cell: attention mass on each class's bank ("bank", (C, h, w)) and token weights ("token")."""
        (h, w), c = self.grid, self.sources.shape[0]
        return {"bank": self.pixel.reshape(h * w, c, -1).sum(-1).T.reshape(c, h, w),
                "token": None if self.token is None else self.token.T.reshape(c, h, w)}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


@torch.no_grad()
def slice_attention(model: nn.Module, image: np.ndarray, *, input_size: int,
                    device: str | torch.device = "cpu") -> SliceAttention:
    """Forward one normalised slice (H, W) through a CIM ``model`` in eval mode and keep its attention (a
    millimetre-view run: the slice in the window, :func:`in_view`, where the resize is the identity)."""
    if not hasattr(model, "bank_source") or not model.cfg.use_banks:
        raise ConfigError("this run has no pixel banks to match (not a cim run, or use_banks=False)")
    x = resize_nearest(image.astype(np.float32), (input_size, input_size))  # as inference.predict_probs
    training = model.training
    _, f = model.eval()(torch.from_numpy(np.ascontiguousarray(x[None, None])).to(device), return_attention=True)
    model.train(training)
    token = _np(f["token_attention"][0]) if "token_attention" in f else None
    return SliceAttention(_np(f["pixel_attention"][0]), token, _np(f["pixel_key"][0].flatten(1).T),
                          model.bank_source.cpu().numpy(), tuple(image.shape), tuple(f["pixel_key"].shape[-2:]),
                          input_size)


def match_pixel(att: SliceAttention, pixel: Sequence[int], top_k: int = 8) -> dict[str, Any]:
    """One pixel's cell, weights over all C*M entries, per-class mass, token weights and ``top_k`` rows (rank,
    entry index, class, slot, weight, ``bank_source``: iteration, batch position, slice, row, col; -1 unknown)."""
    (r, c), m = att.cell_of(pixel), att.sources.shape[1]
    q = r * att.grid[1] + c
    weights = att.pixel[q]
    order = np.argsort(-weights, kind="stable")[:top_k]
    top = [{"rank": i + 1, "index": int(j), "class": int(j // m), "slot": int(j % m), "weight": float(weights[j]),
            "source": [int(v) for v in att.sources.reshape(-1, 5)[j]]} for i, j in enumerate(order)]
    return {"pixel": [int(pixel[0]), int(pixel[1])], "cell": [r, c], "weights": weights, "top_k": top,
            "class_mass": weights.reshape(-1, m).sum(1), "token": None if att.token is None else att.token[q]}


def redraw(slices: SliceSet, meta: dict[str, Any], source: Sequence[int], grid: Sequence[int]
           ) -> dict[str, Any] | None:
    """The augmented training image (S, S) a bank entry came from, its scribble, case and cell box; None if unknown."""
    (it, b, idx, r, c), s = (int(v) for v in source), meta["input_size"]
    if it < 0:
        return None
    batch = make_batch(slices, batch_size=meta["batch_size"], size=(s, s), seed=meta["seed"], iteration=it,
                       pixel_mm=meta.get("pixel_mm"))
    if int(batch["origin"][b, 1]) != idx:
        log.warning("entry %s: the redrawn batch holds slice %d there; the data or split differ from the run's",
                    list(source), int(batch["origin"][b, 1]))
    return {"image": batch["image"][b, 0].numpy(), "scribble": batch["scribble"][b].numpy(), "case": slices.cases[idx],
            "box": (c * s / grid[1] - 0.5, r * s / grid[0] - 0.5, s / grid[1], s / grid[0])}


def initial_model(config: TrainConfig, slices: SliceSet, batches: int, device: str | torch.device = "cpu"
                  ) -> nn.Module:
    """"Before training": the run's network with its initial weights (``train`` seeds them with ``config.seed``;
    runs made before that commit drew them unseeded), its reference set filled by train-mode forwards
    (no optimiser step; BatchNorm statistics move as in training) over the run's first ``batches`` batches."""
    method, s = get_method(config.method)(config), config.input_size
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(config.seed)
        model = method.build_model().to(device).train()
        for it in range(batches):
            batch = make_batch(slices, batch_size=config.batch_size, size=(s, s), seed=config.seed, iteration=it,
                               pixel_mm=config.pixel_mm)
            reseed_step(config.seed, it)
            method.forward(model, {k: v.to(device) for k, v in batch.items()})
    return model.eval()


def embed(model: nn.Module, image: np.ndarray, label: np.ndarray, *, input_size: int, max_points: int = 600,
          seed: int = 0, device: str | torch.device = "cpu") -> dict[str, Any]:
    """t-SNE (``random_state=seed``) of written bank keys (source known; all if none is; <= ``max_points`` with the
    slice's cells, even per class) and the slice's pixel keys, classed by their cell's majority ground truth.
    ``image`` and ``label``: a slice as :func:`in_view` shows it."""
    att = slice_attention(model, image, input_size=input_size, device=device)
    (nc, m), keep = att.sources.shape[:2], att.sources[..., 0].ravel() >= 0
    keep = np.flatnonzero(keep if keep.any() else np.ones_like(keep))
    bank_class = keep // m
    (h, w), lab = att.grid, resize_nearest(label, (input_size, input_size)).astype(np.int64)
    blocks = lab.reshape(h, input_size // h, w, -1)
    test_class = np.stack([(blocks == k).sum((1, 3)) for k in range(nc)]).argmax(0).ravel()
    rng = np.random.default_rng(seed)
    per = max(1, (max_points - h * w) // nc)
    pick = np.sort(np.concatenate([rng.permutation(np.flatnonzero(bank_class == k))[:per]
                                   for k in range(nc)]))
    x = np.concatenate([_np(model.bank_keys.flatten(0, 1)[keep[pick]]), att.keys]).astype(float)
    xy, perp = np.zeros((len(x), 2)), None
    if len(x) >= 5:
        from sklearn.manifold import TSNE
        perp = float(min(30.0, (len(x) - 1) / 3))
        xy = np.round(TSNE(2, perplexity=perp, init="pca", random_state=seed).fit_transform(x).astype(float), 3)
    return {"bank_xy": xy[:len(pick)].tolist(), "bank_class": bank_class[pick].tolist(),
            "bank_index": keep[pick].tolist(), "test_xy": xy[len(pick):].tolist(), "test_class": test_class.tolist(),
            "written_entries": int(len(keep)), "perplexity": perp}


def build_record(run_dir: Path | str, *, data_root: str | Path | None = None, checkpoint: str = "best",
                 case: str | None = None, slice_index: int | None = None, pixel: Sequence[int] | None = None,
                 top_k: int = 8, embed_batches: int = 4, max_points: int = 600, device: str = "cpu") -> dict[str, Any]:
    """Everything the matching figures need except images, for one test pixel of a trained cim run. Defaults: the
    median-Dice test case of ``summary.json``, its middle slice, the centre of mass of its ground-truth LV.
    ``embed_batches`` = 0 skips the t-SNE embedding (and loading the training data). ``pixel``, "shape" and the
    maps are on the slice as :func:`in_view` shows it (a millimetre-view run: in the model's window)."""
    def rnd(a: Any) -> Any:
        return None if a is None else np.round(np.asarray(a, dtype=np.float64), 4).tolist()
    run_dir, meta = Path(run_dir), run_meta(run_dir)
    model, ckpt = load_model(run_dir, checkpoint, device)
    scan = load_case(meta, case or median_case(run_dir, checkpoint), data_root)
    z = scan.num_slices // 2 if slice_index is None else int(slice_index)
    if not 0 <= z < scan.num_slices:
        raise ConfigError(f"slice_index {z} out of range: {scan.case} has {scan.num_slices} slices")
    vol = in_view(scan, meta)
    image, label, s = vol.image[z], vol.label[z], meta["input_size"]
    att = slice_attention(model, image, input_size=s, device=device)
    match, emb = match_pixel(att, start_pixel(scan, z, meta) if pixel is None else pixel, top_k), {}
    if embed_batches > 0:
        before = initial_model(load_run_config(run_dir), training_slices(meta, data_root), embed_batches, device)
        emb = {name: embed(m, image, label, input_size=s, max_points=max_points, device=device)
               for name, m in (("before", before), ("after", model))}
    log.info("matching record: %s slice %d pixel %s -> cell %s", vol.case, z, match["pixel"], match["cell"])
    return {"format": RECORD_FORMAT, "run_dir": repo_relative(run_dir), "checkpoint": checkpoint,
            "iteration": ckpt["iteration"], "run": meta, "case": vol.case, "patient": vol.patient, "slice": z,
            "shape": list(image.shape), "pixel": match["pixel"], "cell": match["cell"], "grid": list(att.grid),
            "class_mass": rnd(match["class_mass"]), "token": rnd(match["token"]), "top_k": match["top_k"],
            "maps": {k: rnd(v) for k, v in att.maps().items()},
            "embedding": {"batches": embed_batches, "max_points": max_points, "models": emb,
                          "note": f"before: initial_model, bank from {embed_batches} batches; after: {checkpoint}"},
            "provenance": {"git": git_state(Path(__file__).resolve().parent), "run_dir": repo_relative(run_dir),
                           "checkpoint": checkpoint, "versions": versions()}}


def save_record(record: dict[str, Any], path: Path | str) -> Path:
    """Write a record as JSON (atomically)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(path), record)
    return Path(path)


def load_record(path: Path | str) -> dict[str, Any]:
    """Read a record written by :func:`save_record` (clear error for another format)."""
    rec = json.loads(Path(path).read_text())
    if rec.get("format") != RECORD_FORMAT:
        raise ConfigError(f"{path} is not a matching record of format {RECORD_FORMAT}")
    return rec
