"""The millimetre view: one mapping for training batches, device slices, validation, evaluate and predict."""
from __future__ import annotations

import numpy as np
import pytest

from scribcim.config import make_config
from scribcim.data.augment import FrameAugmentation, augment_slice, resize_nearest
from scribcim.data.device_batches import DeviceSlices
from scribcim.data.frame import Frame, frame_of, to_frame
from scribcim.data.slices import SliceSet, frame_slice, make_batch
from scribcim.data.volumes import UNLABELLED, Volume
from scribcim.errors import ConfigError
from scribcim.evaluate.geometry import to_model


def disk_volume(h: int, w: int, spacing: tuple[float, float], radius_mm: float = 40.0, case: str = "c") -> Volume:
    """One-slice volume: a disk of ``radius_mm`` (label 3, scribble 3 on its centre row) on a ramp image."""
    yy = (np.arange(h) + 0.5 - h / 2) * spacing[0]
    xx = (np.arange(w) + 0.5 - w / 2) * spacing[1]
    inside = np.hypot(yy[:, None], xx[None, :]) < radius_mm
    image = (np.arange(h * w, dtype=np.float32).reshape(h, w) / (h * w) + inside)[None]
    label = (3 * inside).astype(np.uint8)[None]
    scribble = np.full((1, h, w), UNLABELLED, np.uint8)
    scribble[0, h // 2] = label[0, h // 2]
    return Volume(case, 1, image, label, scribble, (10.0, *spacing))


@pytest.mark.parametrize("h, w, spacing", [(128, 128, (2.0, 2.0)), (200, 150, (1.5625, 1.5625)),
                                           (90, 130, (1.0, 2.4))])
def test_an_unaugmented_training_slice_is_what_predict_feeds_the_model(h, w, spacing):
    """Pixel for pixel: make_batch without augmentation == to_model, the map predict and evaluate use, whether
    the scan's spacing equals the profile's (first case) or not; the scribble is unlabelled outside the scan."""
    v = disk_volume(h, w, spacing)
    s = SliceSet.from_volumes([v])
    b = make_batch(s, batch_size=1, size=(64, 64), seed=0, iteration=0, augment=False, pixel_mm=2.0)
    assert np.array_equal(b["image"][0, 0].numpy(), to_model(v.image, spacing, (2.0, 2.0), 64)[0])
    assert np.array_equal(b["label"][0].numpy(), to_model(v.label.astype(np.float32), spacing, (2.0, 2.0), 64)[0])
    scr = b["scribble"][0].numpy()
    frame = Frame(64, 2.0)
    assert np.array_equal(scr, to_frame(v.scribble, spacing, frame, fill=UNLABELLED)[0])
    if h * spacing[0] < 128 or w * spacing[1] < 128:  # the 128 mm window reaches past the scan
        assert (scr == UNLABELLED).any() and (b["label"][0].numpy() == 3).sum() > 0
    if (h, w, spacing) == (128, 128, (2.0, 2.0)):  # same spacing, centred: the window is the centre of the scan
        assert np.array_equal(b["image"][0, 0].numpy(), v.image[0, 32:96, 32:96])


def test_whole_slice_batches_are_unchanged():
    """Without pixel_mm, make_batch is the released pipeline: augment the whole slice, then resize."""
    vols = [disk_volume(120, 100, (1.5, 1.5), case="a"), disk_volume(90, 140, (1.2, 1.8), case="b")]
    s = SliceSet.from_volumes(vols)
    b = make_batch(s, batch_size=3, size=(32, 32), seed=5, iteration=7)
    rng = np.random.default_rng([5, 7])
    idx = rng.choice(len(s), size=3, replace=True)
    for k, i in enumerate(idx):
        img, scr, lab = augment_slice(s.images[i], s.scribbles[i], s.labels[i], rng)
        assert np.array_equal(b["image"][k, 0].numpy(), resize_nearest(img, (32, 32)).astype(np.float32))
        assert np.array_equal(b["scribble"][k].numpy(), resize_nearest(scr, (32, 32)))


def test_augmentation_acts_in_millimetres():
    """Zoom 1.1 enlarges a centred 40 mm disk by 1.1^2 in area; a rotation keeps it; a 20 mm shift moves it
    by 20 mm / 2 mm = 10 pixels; rot90 + flip is exact on the square window."""
    v = disk_volume(160, 200, (1.5, 1.5))
    s, frame = SliceSet.from_volumes([v]), Frame(96, 2.0)
    base = frame_slice(s, 0, frame)[2] == 3
    area = base.sum()
    assert abs(area / (np.pi * 20 ** 2) - 1) < 0.05
    zoom = frame_slice(s, 0, frame, FrameAugmentation(scale=1.1))[2] == 3
    assert abs(zoom.sum() / area - 1.21) < 0.05
    turned = frame_slice(s, 0, frame, FrameAugmentation(angle=17.0))[2] == 3
    assert abs(turned.sum() / area - 1) < 0.03
    moved = frame_slice(s, 0, frame, FrameAugmentation(shift_mm=(20.0, 0.0)))[2] == 3
    assert abs(np.nonzero(base)[0].mean() - np.nonzero(moved)[0].mean() - 10) < 0.6
    flipped = frame_slice(s, 0, frame, FrameAugmentation(k=1, axis=0))
    plain = frame_slice(s, 0, frame)
    for a, b in zip(flipped, plain):
        assert np.array_equal(a, np.flip(np.rot90(b, 1), axis=0))


def test_device_slices_in_the_millimetre_view_are_the_unaugmented_window():
    vols = [disk_volume(120, 100, (1.5, 1.5), case="a"), disk_volume(90, 140, (1.2, 1.8), case="b")]
    s = SliceSet.from_volumes(vols)
    ds = DeviceSlices.from_slices(s, 32, "cpu", pixel_mm=3.0)
    for i in range(len(s)):
        img, scr, lab = frame_slice(s, i, Frame(32, 3.0))
        assert np.array_equal(ds.images[i, 0].numpy(), img.astype(np.float32))
        assert np.array_equal(ds.scribbles[i].numpy(), scr) and np.array_equal(ds.labels[i].numpy(), lab)


def test_frame_settings_and_errors():
    assert Frame(128, 2.0).window_mm == 256.0 and Frame(128).window_mm is None
    assert frame_of(make_config("cpu-mm175")) == Frame(128, 1.75)
    assert frame_of(make_config("cpu-lr03")) == Frame(128, None)
    assert make_config("gpu10k-mm").pixel_mm == 0.875 and make_config("gpu10k-mm").input_size == 256
    with pytest.raises(ConfigError, match="pixel_mm must be > 0"):
        make_config("cpu-lr03", pixel_mm=0)
    assert Frame(128, 2.0).describe()["window_mm"] == 256.0
    assert Frame(64).describe()["kind"] == "whole_slice"


def test_a_millimetre_run_trains_evaluates_and_predicts_in_one_frame(phantom_run, tmp_path):
    """A phantom run in the millimetre view records its geometry; evaluate and predict see the scan through the
    same window (predict's mask == evaluate's prediction); the summary carries raw and post-processed metrics."""
    import json

    import nibabel as nib

    from scribcim.data import load_part, split_for
    from scribcim.data.normalise import normalise_volumes
    from scribcim.evaluate.inference import predict_labels
    from scribcim.evaluate.predict import predict
    from scribcim.evaluate.summary import evaluate
    from scribcim.runs.load import load_model
    d = phantom_run("pce_selfdice", pixel_mm=3.0)
    info = json.loads((d / "run_info.json").read_text())
    assert info["scale"]["mm_per_pixel"] == 3.0 and info["geometry"]["window_mm"] == 192.0
    summary = evaluate(d, checkpoints=("best",), progress=False)
    best = summary["checkpoints"]["best"]
    assert summary["geometry"]["kind"] == "millimetre"
    assert set(best["postprocessed"]) >= {"foreground_mean", "classes", "cases"}
    assert best["postprocessing"]["choice"] in ("none", "largest_fg", "largest_fg_classes")
    assert json.loads((d / "postprocessing.json").read_text())["best"] == best["postprocessing"]
    v = normalise_volumes(load_part("phantom", None, split_for("phantom", 1), "test")[:1], info["normalisation"])[0]
    model, _ = load_model(d, "best", "cpu")
    ref = predict_labels(model, v.image, frame=Frame(64, 3.0), spacing_yx=v.spacing[1:])
    dz, dy, dx = v.spacing
    scan = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(v.image.transpose(2, 1, 0), np.diag([dx, dy, dz, 1.0])), str(scan))
    out = predict(d, scan, tmp_path / "raw", progress=False, postprocess=False).outputs[0]
    assert np.array_equal(np.asarray(nib.load(str(out)).dataobj).transpose(2, 1, 0), ref)
    labels = json.loads((tmp_path / "raw" / "labels.json").read_text())
    assert labels["postprocessing"] == "none" and labels["mm_per_model_pixel"] == 3.0


def test_predict_applies_the_runs_postprocessing_unless_switched_off(phantom_run, tmp_path):
    """postprocessing.json says largest_fg: predict's mask is one connected component; --no-postprocess: raw."""
    import json

    import nibabel as nib
    from scipy import ndimage

    from scribcim.evaluate.postprocess import apply
    from scribcim.evaluate.predict import predict
    d = phantom_run("pce")
    (d / "postprocessing.json").write_text(json.dumps({"best": {"choice": "largest_fg"}}))
    rng = np.random.default_rng(0)
    image = rng.normal(size=(4, 64, 64)).astype(np.float32)  # noise: a fragmented raw prediction
    scan = tmp_path / "noise.nii.gz"
    nib.save(nib.Nifti1Image(image.transpose(2, 1, 0), np.diag([3.0, 3.0, 10.0, 1.0])), str(scan))
    read = [np.asarray(nib.load(str(predict(d, scan, tmp_path / name, progress=False, postprocess=flag)
                                      .outputs[0])).dataobj).transpose(2, 1, 0)
            for name, flag in (("post", True), ("raw", False))]
    post, raw = read
    assert np.array_equal(post, apply(raw, "largest_fg"))
    assert ndimage.label(post > 0, structure=np.ones((3, 3, 3)))[1] <= 1
    assert json.loads((tmp_path / "post" / "labels.json").read_text())["postprocessing"] == "largest_fg"


def test_run_info_of_a_whole_slice_run_keeps_its_median_scale(phantom_run):
    import json
    info = json.loads((phantom_run("pce") / "run_info.json").read_text())
    assert info["geometry"]["kind"] == "whole_slice" and info["scale"]["source"] == "training slices"
