"""Matching and the explorer on a run in the millimetre view (``pixel_mm``): every slice is inspected in the
model's window (scribcim.analysis.matching.in_view), training batches are redrawn with the run's ``pixel_mm``, and the
views' maps and overlays have the shape of the image they are drawn on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scribcim.analysis import matching
from scribcim.data import load_part, split_for
from scribcim.data.frame import Frame, to_frame
from scribcim.data.normalise import normalise_volumes
from scribcim.data.slices import SliceSet, make_batch
from scribcim.data.volumes import UNLABELLED
from scribcim.evaluate.geometry import to_model
from scribcim.evaluate.inference import predict_labels
from scribcim.evaluate.summary import evaluate
from scribcim.runs.info import read_run_info
from scribcim.runs.load import load_model, load_run_config, median_case, run_meta
from scribcim.viz import matching as viz_matching
from scribcim.viz.common import plt

PIXEL_MM = 3.0


@pytest.fixture(scope="module")
def mm_run(phantom_run) -> Path:
    """A 4-iteration phantom cim run in the millimetre view (3 mm per pixel: the 64 px window is wider than the
    phantom scans, so it reaches past their borders), evaluated on its test cases."""
    d = phantom_run("cim", bank_size=8, pixel_mm=PIXEL_MM)
    evaluate(d, checkpoints=("best",), progress=False)
    return d


@pytest.fixture(scope="module")
def mm_record(mm_run) -> dict:
    return matching.build_record(mm_run, top_k=5, embed_batches=2, max_points=60)


def _image_shapes(fig: plt.Figure) -> set[tuple[int, ...]]:
    return {im.get_array().shape[:2] for ax in fig.axes for im in ax.get_images()}


def test_slices_are_seen_in_the_window_predict_feeds_the_model(mm_run, mm_record):
    """The record's slice is the one predict feeds the model; its pixel, cell and attention are on that grid."""
    meta = run_meta(mm_run)
    s = meta["input_size"]
    assert meta["pixel_mm"] == PIXEL_MM and matching.run_frame(meta) == Frame(s, PIXEL_MM)
    scan = matching.load_case(meta, mm_record["case"])
    vol, z = matching.in_view(scan, meta), mm_record["slice"]
    np.testing.assert_array_equal(vol.image, to_model(scan.image, scan.spacing[1:], (PIXEL_MM, PIXEL_MM), s))
    assert vol.image.shape[1:] == vol.label.shape[1:] == vol.scribble.shape[1:] == (s, s)
    assert (vol.scribble == UNLABELLED).any() and vol.spacing[1:] == (PIXEL_MM, PIXEL_MM)
    assert mm_record["shape"] == [s, s] and vol.label[z][tuple(mm_record["pixel"])] == 3  # the real LV's centre
    model, _ = load_model(mm_run, "best")
    with torch.no_grad():
        kp = model.pixel_key(model.encoder(torch.from_numpy(vol.image[z].copy())[None, None])[-1])
    g = kp.shape[-1]
    cell = [p * g // s for p in mm_record["pixel"]]
    assert mm_record["cell"] == cell and mm_record["grid"] == [g, g]
    expected = torch.softmax(kp[0, :, cell[0], cell[1]] @ model.bank_keys.flatten(0, 1).T, -1).numpy()
    np.testing.assert_allclose(mm_record["class_mass"], expected.reshape(model.bank_keys.shape[0], -1).sum(1),
                               atol=2e-4)
    up = matching.upsample(np.asarray(mm_record["maps"]["bank"]), vol.image[z].shape, s)
    assert up.shape == (model.bank_keys.shape[0], s, s)


def test_replayed_batches_are_the_millimetre_view_batches(mm_run, mm_record):
    """Each top entry's thumbnail is the image make_batch(..., pixel_mm=3.0) gives (augmentation included)."""
    config = load_run_config(mm_run)
    info = read_run_info(mm_run, config)
    vols = load_part("phantom", None, split_for("phantom", config.fold, config.val_patients), "train")
    reference = SliceSet.from_volumes(normalise_volumes(vols, info["normalisation"]))
    slices, s = matching.training_slices(mm_record["run"]), config.input_size
    known = [e for e in mm_record["top_k"] if e["source"][0] >= 0]
    assert known
    for e in known:
        it, b, idx, _, _ = e["source"]
        batch = make_batch(reference, batch_size=config.batch_size, size=(s, s), seed=config.seed, iteration=it,
                           pixel_mm=PIXEL_MM)
        whole = make_batch(reference, batch_size=config.batch_size, size=(s, s), seed=config.seed, iteration=it)
        drawn = matching.redraw(slices, mm_record["run"], e["source"], mm_record["grid"])
        np.testing.assert_array_equal(drawn["image"], batch["image"][b, 0].numpy())
        np.testing.assert_array_equal(drawn["scribble"], batch["scribble"][b].numpy())
        assert not np.array_equal(drawn["image"], whole["image"][b, 0].numpy())
        assert batch["origin"][b].tolist() == [it, idx] and drawn["case"] == reference.cases[idx]


def test_figures_are_drawn_on_the_window(mm_run, mm_record):
    s = mm_record["run"]["input_size"]
    for render in (viz_matching.render_attention, viz_matching.render_matches):
        fig = render(mm_record)
        assert _image_shapes(fig) == {(s, s)}, render.__name__
        plt.close(fig)


def test_explorer_shows_the_window_and_the_scored_prediction(mm_run):
    from scribcim.notebook.explorer import LAYERS, Explorer, explorer_widget
    ex = Explorer(mm_run)
    s, frame = ex.meta["input_size"], Frame(ex.meta["input_size"], PIXEL_MM)
    view = ex.default_view()
    assert view["case"] == median_case(mm_run)
    case, z = view["case"], view["slice_index"]
    scan, shown = ex.scans[case], ex.volumes[case]
    assert shown.image.shape[1:] == (s, s) and shown.label[z][view["row"], view["col"]] == 3
    scored = predict_labels(ex.model, scan.image, frame=frame, spacing_yx=scan.spacing[1:])
    np.testing.assert_array_equal(ex.prediction(case), to_frame(scored, scan.spacing[1:], frame))
    v = ex.view(case, z, view["row"], view["col"], top_k=3)
    assert v["prediction"].shape == v["volume"].image[z].shape == v["attention"].shape == (s, s)
    fig = ex.render(**view, layers=LAYERS, attention_class=2, top_k=3)
    assert len(fig.axes) == 1 + 3 + 1 and _image_shapes(fig) == {(s, s)}
    plt.close(fig)
    panel = explorer_widget(ex)
    row, col = panel.children[2].children
    assert row.max == col.max == s - 1
