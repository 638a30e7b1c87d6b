"""Predict at the scale of training: slices mapped to mm per model pixel and back, the scale recorded by
a run, scans too small to hold a heart, and real ACDC scans cropped or resampled."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scribcim.config import make_config
from scribcim.data.augment import resize_nearest
from scribcim.errors import DataError
from scribcim.evaluate.geometry import check_scan_size, fallback_scale, from_model, to_model, training_scale
from scribcim.training.loop import train

SHAPES = [(256, 216, 1.5625, 1.5625, 128), (224, 154, 1.785709, 1.785709, 64), (47, 53, 1.3, 1.3, 64),
          (300, 263, 0.703125, 0.73, 256)]


@pytest.mark.parametrize("h, w, dy, dx, size", SHAPES)
def test_at_the_slice_own_scale_the_maps_are_evaluate_resize(h, w, dy, dx, size):
    """With one model pixel = FOV / input size, to_model is resize_nearest and from_model the bilinear resize."""
    img = np.random.default_rng(h).random((3, h, w)).astype(np.float32)
    own = (h * dy / size, w * dx / size)
    assert np.array_equal(to_model(img, (dy, dx), own, size), resize_nearest(img, (size, size)))
    probs = torch.rand(3, 4, size, size).softmax(1)
    ref = F.interpolate(probs, size=(h, w), mode="bilinear", align_corners=False)
    assert torch.allclose(from_model(probs, (h, w), (dy, dx), own), ref, atol=1e-5)


def disk(h, w, spacing, radius_mm, centre_mm=(0.0, 0.0)):
    """A (1, h, w) disk of ``radius_mm`` around the slice centre + ``centre_mm`` (y, x)."""
    yy = (np.arange(h) + 0.5 - h / 2) * spacing[0] - centre_mm[0]
    xx = (np.arange(w) + 0.5 - w / 2) * spacing[1] - centre_mm[1]
    return (np.hypot(yy[:, None], xx[None, :]) < radius_mm).astype(np.float32)[None]


@pytest.mark.parametrize("h, w, spacing", [(256, 216, (1.5625, 1.5625)), (300, 300, (0.7, 0.7)),
                                           (100, 80, (2.0, 2.0)), (160, 200, (1.0, 1.6))])
def test_a_heart_sized_disk_has_the_same_size_for_the_model(h, w, spacing):
    """A 30 mm disk fills pi (30 / 2.5)^2 model pixels at 2.5 mm per pixel, centred, whatever the scan's
    field of view (cropped or wide), spacing (fine, coarse, anisotropic) and shape."""
    small = to_model(disk(h, w, spacing, 30.0), spacing, (2.5, 2.5), 128)[0]
    centre = small[40:88, 40:88]  # the mirrored copies of a cropped scan lie outside this window
    assert abs(centre.sum() / (np.pi * 12 ** 2) - 1) < 0.06
    ys, xs = np.nonzero(centre)
    assert abs(ys.mean() - 23.5) < 0.6 and abs(xs.mean() - 23.5) < 0.6


@pytest.mark.parametrize("h, w, spacing", [(120, 100, (1.5, 1.5)), (400, 380, (1.2, 1.2)), (90, 140, (1.0, 2.2))])
def test_labels_round_trip_to_the_scan_grid(h, w, spacing):
    """One-hot labels sent to the model grid and back keep their shape; scan pixels beyond the model's view
    (a 480 mm field of view against 320 mm) come back as background."""
    label = (disk(h, w, spacing, 25.0) + disk(h, w, spacing, 12.0, (5.0, -8.0))).astype(np.int64)
    small = to_model(label.astype(np.float32), spacing, (2.5, 2.5), 128).astype(np.int64)
    onehot = F.one_hot(torch.from_numpy(small), 3).permute(0, 3, 1, 2).float()
    back = from_model(onehot, (h, w), spacing, (2.5, 2.5)).argmax(1).numpy()
    assert back.shape == label.shape and (back == label).mean() > 0.97
    yy = np.abs(np.arange(h) + 0.5 - h / 2) * spacing[0]
    xx = np.abs(np.arange(w) + 0.5 - w / 2) * spacing[1]
    outside = (yy[:, None] > 160) | (xx[None, :] > 160)
    assert (back[0][outside] == 0).all()


def test_scans_too_small_for_a_heart_are_refused():
    """8x8x10 voxels, or 64 x 64 mm in-plane, cannot hold a heart at the model's scale: refused by name."""
    scale = {"mm_per_pixel": 340.0 / 128}
    with pytest.raises(DataError, match=r"tiny.nii has 8x8 pixels.*fewer than 32"):
        check_scan_size("tiny.nii", (10, 8, 8), (10.0, 1.0, 1.0), scale, 128)
    with pytest.raises(DataError, match=r"crop.nii covers only 64 x 64 mm .* under the 85 mm"):
        check_scan_size("crop.nii", (10, 64, 64), (10.0, 1.0, 1.0), scale, 128)
    check_scan_size("ok.nii", (10, 154, 130), (10.0, 1.5625, 1.5625), scale, 128)  # 60 % of an ACDC view


def test_run_records_the_training_scale(phantom_run):
    """run_info.json holds the median over training slices of FOV / input size; a run folder without it
    falls back to the dataset's typical values."""
    from scribcim.data import load_part, split_for
    d = phantom_run("pce")
    scale = json.loads((d / "run_info.json").read_text())["scale"]
    vols = load_part("phantom", None, split_for("phantom", 1), "train")
    fov = [np.sqrt(v.image.shape[1] * v.spacing[1] * v.image.shape[2] * v.spacing[2])
           for v in vols for _ in range(v.num_slices)]
    assert scale["mm_per_pixel"] == pytest.approx(np.median(fov) / 64) and scale["slices"] == len(fov)
    assert scale == training_scale(vols, 64)
    assert fallback_scale("acdc", 128)["mm_per_pixel"] == pytest.approx(339.9 / 128)
    assert "typical phantom" in fallback_scale("phantom", 64)["source"]


# --- real ACDC: a quick model, one test volume cropped and resampled -------------------------------------

@pytest.fixture(scope="module", params=[None, 4.0], ids=["whole-slice", "4mm-window"])
def acdc_model(request, real_root, tmp_path_factory):
    """A small densely supervised ACDC model (300 iterations at 64 x 64, one thread, about 1-2 minutes):
    enough for a test Dice near 0.65, so that a change of scale shows. Trained on whole slices, or in the
    millimetre view (4 mm per pixel, a 256 mm window), whose predict maps every scan exactly as training did."""
    d = tmp_path_factory.mktemp("acdc_scale") / "run"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(make_config("smoke", dataset="acdc", method="full", run_dir=str(d), data_root=str(real_root),
                          input_size=64, batch_size=8, max_iterations=300, lr=0.03, val_every=300,
                          checkpoint_every=300, log_every=100, val_patients=1, progress=False, num_threads=1,
                          pixel_mm=request.param))
    finally:
        torch.set_num_threads(n)
    return d


def heart_crop(label, fraction):
    """In-plane slice of ``fraction`` of the field of view, centred on the heart (bounding box of the labels)."""
    _, ys, xs = np.nonzero(label)
    h, w = label.shape[1:]
    ch, cw = int(fraction * h), int(fraction * w)
    y0 = int(np.clip((ys.min() + ys.max()) // 2 - ch // 2, 0, h - ch))
    x0 = int(np.clip((xs.min() + xs.max()) // 2 - cw // 2, 0, w - cw))
    return np.s_[:, y0:y0 + ch, x0:x0 + cw]


def predict_nifti(run_dir, image, spacing, folder):
    """Write ``image`` (z, y, x) as NIfTI with ``spacing`` (dz, dy, dx), run predict, read the mask back."""
    from scribcim.evaluate.predict import predict
    folder.mkdir()
    dz, dy, dx = spacing
    nib.save(nib.Nifti1Image(image.transpose(2, 1, 0).astype(np.float32), np.diag([dx, dy, dz, 1.0])),
             str(folder / "scan.nii.gz"))
    out = predict(run_dir, folder / "scan.nii.gz", folder / "out", progress=False).outputs[0]
    return np.asarray(nib.load(str(out)).dataobj).transpose(2, 1, 0)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("case", ["patient001_frame01", "patient001_frame12"])
def test_cropped_and_resampled_acdc_scans_keep_their_dice(acdc_model, real_root, tmp_path, case):
    """Cropped to 60 % of its field of view around the heart, resampled to 1.0 or 2.2 mm in-plane, or both:
    the mask's Dice is within 0.05 of the full view's, scored on the same voxels."""
    from scipy import ndimage

    from scribcim.data import load_acdc
    from scribcim.evaluate.metrics import fast_dice
    v = load_acdc(real_root, cases=[case])[0]

    def dice(pred, label):
        return float(np.nanmean(fast_dice(pred, label)))

    full = predict_nifti(acdc_model, v.image, v.spacing, tmp_path / "full")
    sl = heart_crop(v.label, 0.6)
    got = {"full": dice(full, v.label)}
    pairs = {"crop": (dice(predict_nifti(acdc_model, v.image[sl], v.spacing, tmp_path / "crop"), v.label[sl]),
                      dice(full[sl], v.label[sl]))}
    for mm in (1.0, 2.2):
        f = v.spacing[1] / mm
        image, label, ref = (ndimage.zoom(a, (1, f, f), order=o) for a, o in ((v.image, 1), (v.label, 0), (full, 0)))
        spacing = (v.spacing[0], mm, mm)
        pairs[f"{mm} mm"] = (dice(predict_nifti(acdc_model, image, spacing, tmp_path / f"r{mm}"), label),
                             dice(ref, label))
        crop = heart_crop(label, 0.6)
        pairs[f"crop {mm} mm"] = (dice(predict_nifti(acdc_model, image[crop], spacing, tmp_path / f"c{mm}"),
                                       label[crop]), dice(ref[crop], label[crop]))
    print(case, got, {k: (round(a, 3), round(b, 3)) for k, (a, b) in pairs.items()})
    assert got["full"] > 0.6  # the model segments: a change of scale would show
    for name, (transformed, full_view) in pairs.items():
        assert abs(transformed - full_view) <= 0.05, (name, transformed, full_view)
