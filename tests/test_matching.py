"""Matched-feature visualisation (scribcim.analysis.matching) and the explorer (scribcim.notebook.explorer),
notebooks 05 and 06.

The acceptance check: the attention reported for a pixel is the one the model used, recomputed here
independently from the model's buffers and a separate forward of its encoder and key heads.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from scribcim.analysis import matching
from scribcim.viz import matching as viz_matching
from scribcim.config import make_config
from scribcim.data import load_part, split_for
from scribcim.data.augment import resize_nearest
from scribcim.data.slices import SliceSet, make_batch
from scribcim.errors import ConfigError
from scribcim.evaluate.summary import evaluate
from scribcim.runs.load import load_model, load_run_config, median_case, run_meta
from scribcim.data.normalise import normalise_volumes
from scribcim.runs.info import read_run_info
from scribcim.models import UNet
from scribcim.training.loop import train
from scribcim.viz.common import plt, save_figure

RECORD_KEYS = {"format", "run_dir", "checkpoint", "iteration", "run", "case", "patient", "slice", "shape", "pixel",
               "cell", "grid", "class_mass", "token", "top_k", "maps", "embedding", "provenance"}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run(phantom_cim_run) -> Path:
    """A 4-iteration phantom cim run whose small banks (8 entries per class) are fully written, evaluated."""
    return phantom_cim_run


@pytest.fixture(scope="module")
def record(run) -> dict:
    return matching.build_record(run, top_k=5, embed_batches=2, max_points=60)


def _slice(run: Path, case: str, z: int) -> np.ndarray:
    return matching.load_case(run_meta(run), case).image[z]


@pytest.mark.parametrize("where", ["corner", "centre", "far corner"])
def test_reported_attention_is_the_models(run, where):
    """Weights over all C*M entries equal softmax(Kp(cell) . bank_keys) from a separate forward and the buffers;
    the per-class masses sum to one, the top-k are the largest weights in order, tokens match too."""
    meta = run_meta(run)
    model, _ = load_model(run, "best")
    case = median_case(run)
    image = _slice(run, case, 1)
    h_img, w_img = image.shape
    pixel = {"corner": (0, 0), "centre": (h_img // 2, w_img // 2), "far corner": (h_img - 1, w_img - 1)}[where]
    s = meta["input_size"]
    att = matching.slice_attention(model, image, input_size=s)
    m = matching.match_pixel(att, pixel, top_k=5)

    x = torch.from_numpy(resize_nearest(image.astype(np.float32), (s, s)).copy())[None, None]
    with torch.no_grad():
        f = model.encoder(x)[-1]
        kp, kt = model.pixel_key(f), model.token_key(f)
    g = kp.shape[-1]
    cell = tuple(min(int((p + 0.5) * s / n), s - 1) * g // s for p, n in zip(pixel, image.shape))
    assert tuple(m["cell"]) == cell
    scores = kp[0, :, cell[0], cell[1]] @ model.bank_keys.flatten(0, 1).T
    expected = torch.softmax(scores, -1).numpy()
    np.testing.assert_allclose(m["weights"], expected, rtol=1e-5, atol=1e-7)
    c, bank = model.bank_keys.shape[:2]
    np.testing.assert_allclose(m["class_mass"], expected.reshape(c, bank).sum(1), rtol=1e-5, atol=1e-6)
    assert m["class_mass"].sum() == pytest.approx(1.0, abs=1e-5)
    token = torch.softmax(kt[0, :, cell[0], cell[1]] @ model.token_keys.T, -1).numpy()
    np.testing.assert_allclose(m["token"], token, rtol=1e-5, atol=1e-7)

    weights = [e["weight"] for e in m["top_k"]]
    assert weights == sorted(weights, reverse=True) and len(weights) == 5
    assert weights[0] == pytest.approx(expected.max(), rel=1e-6)
    assert weights[-1] == pytest.approx(np.sort(expected)[-5], rel=1e-6)
    for e in m["top_k"]:
        assert e["index"] == e["class"] * bank + e["slot"]
        assert e["weight"] == pytest.approx(float(expected[e["index"]]), rel=1e-6)
        assert e["source"] == model.bank_source[e["class"], e["slot"]].tolist()
    maps = att.maps()
    np.testing.assert_allclose(maps["bank"][:, cell[0], cell[1]], m["class_mass"], rtol=1e-6)
    np.testing.assert_allclose(maps["bank"].sum(0), 1.0, atol=1e-5)
    up = matching.upsample(maps["bank"], image.shape, s)
    assert up.shape == (c, h_img, w_img)
    np.testing.assert_array_equal(up[:, pixel[0], pixel[1]], maps["bank"][:, cell[0], cell[1]])


def test_thumbnail_redraw_is_the_training_batch_image(run, record):
    """Each top entry's thumbnail is exactly the image make_batch gives for its (seed, iteration, position),
    from a SliceSet built here the way train.py builds it."""
    config = load_run_config(run)
    info = read_run_info(run, config)
    vols = load_part("phantom", None, split_for("phantom", config.fold, config.val_patients), "train")
    reference = SliceSet.from_volumes(normalise_volumes(vols, info["normalisation"]))
    slices = matching.training_slices(record["run"])
    s = config.input_size
    known = [e for e in record["top_k"] if e["source"][0] >= 0]
    assert len(known) == len(record["top_k"])  # banks of 8 are fully written in 4 iterations
    for e in known:
        it, b, idx, r, c = e["source"]
        batch = make_batch(reference, batch_size=config.batch_size, size=(s, s), seed=config.seed, iteration=it)
        drawn = matching.redraw(slices, record["run"], e["source"], record["grid"])
        np.testing.assert_array_equal(drawn["image"], batch["image"][b, 0].numpy())
        np.testing.assert_array_equal(drawn["scribble"], batch["scribble"][b].numpy())
        assert batch["origin"][b].tolist() == [it, idx] and drawn["case"] == reference.cases[idx]
        assert 0 <= r < record["grid"][0] and 0 <= c < record["grid"][1]
    assert matching.redraw(slices, record["run"], [-1] * 5, record["grid"]) is None


def test_unknown_sources_are_shown_as_such(record):
    rec = json.loads(json.dumps(record))
    for e in rec["top_k"][1:]:
        e["source"] = [-1] * 5
    fig = viz_matching.render_matches(rec)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("source unknown") == len(rec["top_k"]) - 1
    plt.close(fig)


def test_record_round_trips_and_renders_without_the_model(run, record, tmp_path):
    """The record survives JSON, holds rounded maps and embeddings, and renders the three figures
    (byte-identical PNGs when rendered twice) from the record and the data alone."""
    path = matching.save_record(record, tmp_path / "m.json")
    loaded = matching.load_record(path)
    assert loaded == json.loads(json.dumps(record)) and set(loaded) == RECORD_KEYS
    c, (h, w) = len(loaded["run"]["class_names"]), loaded["grid"]
    assert np.asarray(loaded["maps"]["bank"]).shape == (c, h, w) == np.asarray(loaded["maps"]["token"]).shape
    assert all(round(v, 4) == v for v in np.ravel(loaded["maps"]["bank"]))
    assert sum(loaded["class_mass"]) == pytest.approx(1.0, abs=1e-3)
    assert loaded["case"] == median_case(run)  # the defaults: median-Dice case, middle slice
    assert loaded["slice"] == matching.load_case(loaded["run"], loaded["case"]).num_slices // 2
    assert {"git", "run_dir", "checkpoint"} <= set(loaded["provenance"])
    for name in ("before", "after"):
        e = loaded["embedding"]["models"][name]
        assert len(e["bank_xy"]) == len(e["bank_class"]) and len(e["test_xy"]) == len(e["test_class"]) == h * w
        assert len(e["bank_xy"]) + len(e["test_xy"]) <= 60 and all(round(v, 3) == v for v in np.ravel(e["bank_xy"]))
    loaded["run_dir"] = "/nowhere"  # rendering never looks at the run folder
    for kind, render in (("attention", lambda r: viz_matching.render_attention(r)),
                         ("matches", lambda r: viz_matching.render_matches(r)),
                         ("embedding", viz_matching.render_embedding)):
        a = save_figure(render(loaded), tmp_path / f"a_{kind}.png", loaded["provenance"])
        b = save_figure(render(loaded), tmp_path / f"b_{kind}.png", loaded["provenance"])
        assert a.read_bytes().startswith(PNG) and a.read_bytes() == b.read_bytes(), kind
        assert a.with_suffix(".json").is_file()


def test_bad_requests_fail_clearly(run, record):
    model, _ = load_model(run, "best")
    image = _slice(run, record["case"], 0)
    att = matching.slice_attention(model, image, input_size=record["run"]["input_size"])
    with pytest.raises(ConfigError, match="outside"):
        matching.match_pixel(att, (image.shape[0], 0))
    with pytest.raises(ConfigError, match="no pixel banks"):
        matching.slice_attention(UNet(1, 4).eval(), image, input_size=64)
    with pytest.raises(ConfigError, match="slice_index"):
        matching.build_record(run, slice_index=99, embed_batches=0)
    with pytest.raises(ConfigError, match="no case"):
        matching.build_record(run, case="patient999_frame01", embed_batches=0)


def test_explorer_renders_every_layer_and_widget_builds(run):
    from scribcim.notebook.explorer import LAYERS, Explorer, explorer_widget
    ex = Explorer(run)
    view = ex.default_view()
    assert view["case"] == median_case(run)
    fig = ex.render(**view, layers=LAYERS, attention_class=2, top_k=3)
    assert len(fig.axes) == 1 + 3 + 1  # slice, three matches, the attention colour bar
    plt.close(fig)
    v = ex.view(view["case"], view["slice_index"], view["row"], view["col"], top_k=3)
    ref = matching.match_pixel(v["attention"], (view["row"], view["col"]), 3)
    assert v["match"]["top_k"] == ref["top_k"]
    with pytest.raises(ConfigError, match="layer"):
        ex.render(layers=("contours",))
    panel = explorer_widget(ex)
    case = panel.children[0].children[0]
    case.value = ex.cases[-1]  # redraws with the new case's slider ranges
    assert panel.children[1].children[0].description == "scribble"


def test_explorer_widget_new_case_and_errors(run, monkeypatch):
    """A new case starts at its middle slice and LV centre; a failing redraw shows its traceback in the panel."""
    from scribcim.notebook.explorer import Explorer, explorer_widget
    ex = Explorer(run)
    panel = explorer_widget(ex)
    (case, z, _, _), _, (row, col), out = [getattr(c, "children", c) for c in panel.children]
    assert [o["output_type"] for o in out.outputs] == ["display_data"]
    row.value, col.value = 0, 0
    other = next(c for c in ex.cases if c != case.value)
    case.value = other
    start = ex.start_of(other)
    assert (z.value, row.value, col.value) == (start["slice_index"], start["row"], start["col"])
    assert ex.volumes[other].label[z.value][row.value, col.value] == 3  # on the heart (the LV), not off it
    monkeypatch.setattr(ex, "render", lambda *a, **k: 1 / 0)
    panel.children[1].children[0].value = True  # the scribble layer: redraw fails
    (err,) = out.outputs
    assert err["output_type"] == "error" and err["ename"] == "ZeroDivisionError"
    assert any("ZeroDivisionError: division by zero" in line for line in err["traceback"])
    monkeypatch.undo()
    panel.children[1].children[0].value = False  # the view comes back
    assert [o["output_type"] for o in out.outputs] == ["display_data"]


def test_notebooks_are_clean_and_take_the_documented_parameters():
    from scribcim.notebook.execute import has_outputs, notebook_path, parameters_of
    expected = {"05_matching": {"run_dir", "data_root", "checkpoint", "case", "slice_index", "pixel", "top_k",
                                "embed_batches", "out_dir", "stem"},
                "06_explorer": {"run_dir", "data_root", "checkpoint", "out_dir"}}
    for name, params in expected.items():
        path = notebook_path(name)
        assert set(parameters_of(path)) == params and not has_outputs(path)
        assert json.loads(path.read_text())["metadata"]["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def real_run(real_root, tmp_path_factory) -> Path:
    """A smoke cim run on real ACDC (banks of 8 entries, so that most are written), evaluated on the test patients."""
    d = tmp_path_factory.mktemp("matching_real") / "run"
    train(make_config("smoke", dataset="acdc", method="cim", data_root=str(real_root), run_dir=str(d),
                      val_patients=1, bank_size=8, progress=False, num_threads=1))
    evaluate(d, checkpoints=("best",), data_root=str(real_root), progress=False)
    return d


def _outputs(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text())
    return [m for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"] for m in o.get("data", {})]


@pytest.mark.realdata
def test_matching_notebook_on_real_acdc(real_run, real_root, tmp_path):
    from scribcim.notebook.execute import execute
    out = tmp_path / "fig"
    nb = execute("05_matching", tmp_path / "05.ipynb", {"run_dir": str(real_run), "data_root": str(real_root),
                                                         "out_dir": str(out), "top_k": 4, "embed_batches": 2})
    rec = matching.load_record(out / "matching.json")
    assert set(rec) == RECORD_KEYS and rec["case"] == median_case(real_run)
    assert rec["run"]["dataset"] == "acdc" and len(rec["top_k"]) == 4
    assert any(e["source"][0] >= 0 for e in rec["top_k"])  # redrawn from the training data
    assert set(rec["embedding"]["models"]) == {"before", "after"}
    label = matching.load_case(rec["run"], rec["case"], real_root).label[rec["slice"]]
    assert label[tuple(rec["pixel"])] == 3  # the default pixel: centre of the ground-truth LV
    for kind in ("attention", "matches", "embedding"):
        png = out / f"matching_{kind}.png"
        assert png.read_bytes().startswith(PNG) and png.stat().st_size > 10_000, kind
        assert json.loads(png.with_suffix(".json").read_text())["record"] == str(out / "matching.json")
    assert _outputs(nb).count("image/png") == 3


@pytest.mark.realdata
def test_explorer_notebook_on_real_acdc(real_run, real_root, tmp_path):
    from scribcim.notebook.execute import execute
    out = tmp_path / "fig"
    nb = execute("06_explorer", tmp_path / "06.ipynb", {"run_dir": str(real_run), "data_root": str(real_root),
                                                        "out_dir": str(out)})
    png = out / "explorer.png"
    assert png.read_bytes().startswith(PNG) and png.stat().st_size > 10_000
    prov = json.loads(png.with_suffix(".json").read_text())
    assert prov["view"]["case"] == median_case(real_run) and prov["checkpoint"] == "best"
    outputs = _outputs(nb)
    assert "application/vnd.jupyter.widget-view+json" in outputs and outputs.count("image/png") == 1
