"""Tests of splits, augmentation, batches, the phantom, the ACDC loader, config and the method registry."""
from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
from scipy import ndimage

from scribcim.config import PROFILES, TrainConfig, make_config
from scribcim.data.augment import augment_slice, resize_nearest
from scribcim.data.phantom import phantom_volume, phantom_volumes, write_phantom
from scribcim.data.slices import SliceSet, make_batch
from scribcim.data.splits import fold_split
from scribcim.data.volumes import ACDC_SPACING, ACDC_VOLUMES, UNLABELLED, load_acdc
from scribcim.errors import ConfigError, DataError
from scribcim.training.methods import METHODS, Method, get_method, register

ALL = set(range(1, 101))


# ---------------------------------------------------------------- splits

@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_fold_split_partition(fold):
    """Each fold's train/val/test are disjoint, cover 1..100, test is the fold's 20 patients, val has 8."""
    s = fold_split(fold)
    train, val, test = set(s.train), set(s.val), set(s.test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == ALL
    assert s.test == tuple(range(20 * (fold - 1) + 1, 20 * fold + 1))
    assert len(s.val) == 8 and len(s.train) == 72
    assert list(s.train) == sorted(s.train) and list(s.val) == sorted(s.val)
    assert s.fold == fold


def test_fold_split_deterministic():
    """The same fold gives the same split twice (fixed seed)."""
    for k in range(1, 6):
        assert fold_split(k) == fold_split(k)


def test_fold_test_sets_partition_patients():
    """The five test sets are disjoint and together are 1..100."""
    tests = [set(fold_split(k).test) for k in range(1, 6)]
    assert set().union(*tests) == ALL
    assert sum(len(t) for t in tests) == 100


@pytest.mark.parametrize("fold", [0, 6, -1])
def test_fold_split_bad_fold(fold):
    """Folds outside 1..5 raise ConfigError."""
    with pytest.raises(ConfigError):
        fold_split(fold)


# ---------------------------------------------------------------- augmentation

def _branch(seed):
    """Which branch augment_slice takes for rng seed ``seed`` (mirrors its draws), and the angle if rotating."""
    rng = np.random.default_rng(seed)
    if rng.random() > 0.5:
        return "rot90", None
    if rng.random() > 0.5:
        return "rotate", float(rng.uniform(-20, 20))
    return "none", None


def _seed_for(branch, min_angle=5.0):
    for seed in range(1000):
        b, angle = _branch(seed)
        if b == branch and (angle is None or abs(angle) > min_angle):
            return seed
    raise AssertionError(f"no seed for {branch}")


def _triple(n=40):
    yy, xx = np.mgrid[0:n, 0:n]
    label = ((yy // 10 + xx // 10) % 4).astype(np.uint8)
    image = label.astype(np.float32) + 0.5
    scribble = label.copy()
    scribble[::3] = UNLABELLED
    return image, scribble, label


@pytest.mark.parametrize("branch", ["rot90", "rotate", "none"])
def test_augment_shapes_and_values(branch):
    """Square slices keep their shape and dtype, and only input values (plus fill values) appear."""
    image, scribble, label = _triple()
    out = augment_slice(image, scribble, label, np.random.default_rng(_seed_for(branch)))
    for a, o in zip((image, scribble, label), out):
        assert o.shape == a.shape and o.dtype == a.dtype
        assert o.flags["C_CONTIGUOUS"]
    assert set(np.unique(out[0])) <= set(np.unique(image)) | {0.0}
    assert set(np.unique(out[1])) <= set(np.unique(scribble)) | {UNLABELLED}
    assert set(np.unique(out[2])) <= set(np.unique(label))      # label already contains 0
    # the three arrays move together: the image stays label + 0.5 wherever it was not filled
    inside = out[0] != 0
    assert np.array_equal(out[0][inside], out[2][inside] + 0.5)
    known = out[1] != UNLABELLED
    assert np.array_equal(out[1][known], out[2][known])


def test_augment_rotation_fills_borders():
    """The rotation branch fills new corners with 4 in the scribble and 0 in the image and label."""
    seed = _seed_for("rotate")
    n = 40
    image = np.ones((n, n), np.float32)
    scribble = np.ones((n, n), np.uint8)
    label = np.full((n, n), 2, np.uint8)
    img, scr, lab = augment_slice(image, scribble, label, np.random.default_rng(seed))
    for a, fill in ((img, 0.0), (scr, UNLABELLED), (lab, 0)):
        corners = [a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]]
        assert all(c == fill for c in corners)
    assert set(np.unique(scr)) == {1, UNLABELLED}
    assert set(np.unique(lab)) == {0, 2}
    assert set(np.unique(img)) == {0.0, 1.0}
    assert scr[n // 2, n // 2] == 1 and lab[n // 2, n // 2] == 2
    assert np.array_equal(scr == UNLABELLED, lab == 0)


def test_augment_rot90_is_a_permutation():
    """The rot90/flip branch only rearranges pixels (same multiset of values)."""
    seed = _seed_for("rot90")
    image, scribble, label = _triple()
    out = augment_slice(image, scribble, label, np.random.default_rng(seed))
    for a, o in zip((image, scribble, label), out):
        assert np.array_equal(np.sort(a, axis=None), np.sort(o, axis=None))


def test_augment_identity_branch():
    """When neither branch fires the slice comes back unchanged."""
    seed = _seed_for("none")
    image, scribble, label = _triple()
    out = augment_slice(image, scribble, label, np.random.default_rng(seed))
    for a, o in zip((image, scribble, label), out):
        assert np.array_equal(a, o)


def test_augment_deterministic():
    """The same rng seed gives the same augmentation."""
    image, scribble, label = _triple()
    for seed in range(6):
        a = augment_slice(image, scribble, label, np.random.default_rng(seed))
        b = augment_slice(image, scribble, label, np.random.default_rng(seed))
        for x, y in zip(a, b):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("shape", [(8, 8), (3, 5), (16, 12), (1, 1)])
def test_resize_nearest_shape_and_values(shape):
    """resize_nearest gives the requested shape, keeps leading axes and only input values."""
    arr = np.arange(2 * 6 * 7).reshape(2, 6, 7)
    out = resize_nearest(arr, shape)
    assert out.shape == (2, *shape)
    assert set(np.unique(out)) <= set(np.unique(arr))


def test_resize_nearest_identity_and_hand_cases():
    """Same shape is the identity; 2x up duplicates pixels; 2x down takes pixel-centre samples."""
    arr = np.arange(12).reshape(3, 4)
    assert np.array_equal(resize_nearest(arr, (3, 4)), arr)
    small = np.array([[1, 2], [3, 4]])
    assert np.array_equal(resize_nearest(small, (4, 4)),
                          [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    big = np.arange(16).reshape(4, 4)
    assert np.array_equal(resize_nearest(big, (2, 2)), [[5, 7], [13, 15]])


# ---------------------------------------------------------------- batches

@pytest.fixture(scope="module")
def slices():
    return SliceSet.from_volumes(phantom_volumes(2))


def test_sliceset_from_volumes(slices):
    """SliceSet holds one entry per slice of every volume, with case:z ids."""
    vols = phantom_volumes(2)
    assert len(slices) == sum(v.num_slices for v in vols)
    assert slices.cases[0] == f"{vols[0].case}:0"
    assert np.array_equal(slices.labels[1], vols[0].label[1])


def test_make_batch_shapes_dtypes(slices):
    """make_batch returns float32 (B,1,S,S) images and int64 (B,S,S) scribbles/labels in range."""
    b = make_batch(slices, batch_size=3, size=(32, 32), seed=0, iteration=0)
    assert tuple(b["image"].shape) == (3, 1, 32, 32) and str(b["image"].dtype) == "torch.float32"
    for k in ("scribble", "label"):
        assert tuple(b[k].shape) == (3, 32, 32) and str(b[k].dtype) == "torch.int64"
    assert 0 <= b["scribble"].min() and b["scribble"].max() <= 4
    assert 0 <= b["label"].min() and b["label"].max() <= 3
    assert (b["scribble"] != 4).any()


def test_make_batch_is_function_of_seed_and_iteration(slices):
    """Same (seed, iteration) gives the identical batch; another iteration or seed a different one."""
    a = make_batch(slices, batch_size=2, size=(32, 32), seed=7, iteration=3)
    b = make_batch(slices, batch_size=2, size=(32, 32), seed=7, iteration=3)
    c = make_batch(slices, batch_size=2, size=(32, 32), seed=7, iteration=4)
    d = make_batch(slices, batch_size=2, size=(32, 32), seed=8, iteration=3)
    for k in a:
        assert (a[k] == b[k]).all()
    assert not (a["image"] == c["image"]).all()
    assert not (a["image"] == d["image"]).all()


def test_make_batch_without_augment_is_resized_slice(slices):
    """augment=False returns plain nearest resizes of the chosen slices."""
    b = make_batch(slices, batch_size=2, size=(32, 32), seed=1, iteration=0, augment=False)
    idx = np.random.default_rng([1, 0]).choice(len(slices), size=2, replace=False)
    for j, i in enumerate(idx):
        assert np.array_equal(b["label"][j].numpy(), resize_nearest(slices.labels[i], (32, 32)))
        assert np.array_equal(b["image"][j, 0].numpy(), resize_nearest(slices.images[i], (32, 32)))


# ---------------------------------------------------------------- phantom

def test_phantom_deterministic():
    """phantom_volume is a pure function of (patient, frame, seed)."""
    a, b = phantom_volume(3, 1), phantom_volume(3, 1)
    for k in ("image", "label", "scribble"):
        assert np.array_equal(getattr(a, k), getattr(b, k))
    assert a.spacing == b.spacing and a.case == "patient003_frame01" and a.patient == 3
    c = phantom_volume(3, 1, seed=1)
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("patient,frame", [(1, 1), (2, 2), (5, 1), (9, 2)])
def test_phantom_labels_and_scribbles(patient, frame):
    """All 4 classes are present, and a scribbled pixel always carries the dense label's class."""
    v = phantom_volume(patient, frame)
    assert v.image.shape == v.label.shape == v.scribble.shape and v.image.ndim == 3
    assert v.image.dtype == np.float32
    assert set(np.unique(v.label)) == {0, 1, 2, 3}
    marked = v.scribble != UNLABELLED
    assert marked.any()
    assert np.array_equal(v.scribble[marked], v.label[marked])
    assert set(np.unique(v.scribble)) <= {0, 1, 2, 3, UNLABELLED}


@pytest.mark.parametrize("patient,frame", [(1, 1), (4, 2), (7, 1), (10, 2)])
def test_phantom_lv_enclosed_by_myo(patient, frame):
    """LV (3) is surrounded by MYO (2): its 8-connected 1-pixel dilation only touches labels 2 and 3."""
    v = phantom_volume(patient, frame)
    for lab in v.label:
        lv = lab == 3
        assert lv.any()
        ring = ndimage.binary_dilation(lv, structure=np.ones((3, 3), bool)) & ~lv
        assert set(np.unique(lab[ring])) <= {2, 3}
        assert (lab[ring] == 2).all()


# ---------------------------------------------------------------- ACDC loader

def test_write_phantom_load_acdc_round_trip(tmp_path):
    """write_phantom + load_acdc give back the same arrays, spacing and patient ids."""
    root = write_phantom(tmp_path, num_patients=2)
    loaded = load_acdc(root)
    expected = phantom_volumes(2)
    assert [v.case for v in loaded] == sorted(v.case for v in expected)
    by_case = {v.case: v for v in expected}
    for v in loaded:
        e = by_case[v.case]
        assert v.patient == e.patient == int(v.case[7:10])
        assert v.spacing == e.spacing
        for k in ("image", "label", "scribble"):
            assert np.array_equal(getattr(v, k), getattr(e, k)), k
        assert v.image.dtype == np.float32 and v.scribble.dtype == np.uint8
    only2 = load_acdc(root, patients=[2])
    assert [v.case for v in only2] == ["patient002_frame01", "patient002_frame02"]


def test_load_acdc_missing_folder(tmp_path):
    """A data root without the ACDC volumes folder raises DataError pointing at `scribcim fetch`."""
    with pytest.raises(DataError, match="scribcim fetch"):
        load_acdc(tmp_path / "nowhere")
    with pytest.raises(DataError, match="scribcim fetch"):
        load_acdc(tmp_path)


def test_load_acdc_spacing_missing_case(tmp_path):
    """A spacing.csv without a row for a present case raises DataError naming the case."""
    root = write_phantom(tmp_path, num_patients=1)
    path = root / ACDC_SPACING
    rows = list(csv.reader(path.open()))
    dropped = rows.pop(2)[0]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with pytest.raises(DataError, match=dropped):
        load_acdc(root)


def test_load_acdc_missing_spacing_file(tmp_path):
    """A missing spacing.csv raises DataError pointing at `scribcim fetch`."""
    root = write_phantom(tmp_path, num_patients=1)
    (root / ACDC_SPACING).unlink()
    with pytest.raises(DataError, match="scribcim fetch"):
        load_acdc(root)


def test_load_acdc_h5_without_scribble(tmp_path):
    """An h5 lacking the 'scribble' dataset raises DataError naming the file."""
    root = write_phantom(tmp_path, num_patients=1)
    path = root / ACDC_VOLUMES / "patient001_frame02.h5"
    with h5py.File(path, "a") as f:
        del f["scribble"]
    with pytest.raises(DataError) as info:
        load_acdc(root)
    msg = str(info.value)
    assert "patient001_frame02.h5" in msg and "scribble" in msg


# ---------------------------------------------------------------- config

def test_paper_profile():
    """The paper profile is the released protocol."""
    c = make_config("paper")
    assert (c.input_size, c.batch_size, c.max_iterations) == (256, 6, 60_000)
    assert c.lr == 0.01 and c.momentum == 0.9 and c.weight_decay == 1e-4 and c.poly_power == 0.9
    assert c.profile == "paper" and c.val_every == 200


def test_make_config_overrides():
    """Overrides win over the profile and None overrides are ignored."""
    c = make_config("smoke", batch_size=2, lr=None, method="pce")
    assert c.batch_size == 2 and c.lr == PROFILES["smoke"]["lr"] and c.method == "pce"
    assert c.input_size == 64


@pytest.mark.parametrize("profile,overrides", [
    ("nope", {}),
    ("quick", {"no_such_field": 1}),
    ("quick", {"input_size": 100}),
    ("quick", {"method": "nope"}),
    ("quick", {"batch_size": 0}),
    ("quick", {"lr": 0.0}),
    ("quick", {"device": "tpu"}),
    ("quick", {"matching": "x"}),
    ("quick", {"bank_size": 0}),
    ("quick", {"token_source": "x"}),
    ("quick", {"token_momentum": 1.0}),
])
def test_make_config_errors(profile, overrides):
    """Unknown profile/field and bad values raise ConfigError."""
    with pytest.raises(ConfigError):
        make_config(profile, **overrides)


def test_train_config_round_trip():
    """TrainConfig survives to_dict/from_dict, and from_dict rejects unknown keys."""
    c = make_config("smoke", fold=3, extra={"note": "x"}, bank_size=16)
    d = c.to_dict()
    assert d["fold"] == 3 and d["bank_size"] == 16
    assert TrainConfig.from_dict(d) == c
    with pytest.raises(ConfigError):
        TrainConfig.from_dict({**d, "bogus": 1})


# ---------------------------------------------------------------- methods registry

def test_builtin_methods_registered():
    """pce and cim are registered and build a UNet / CIM."""
    from scribcim.models import CIM, UNet
    assert {"pce", "cim"} <= set(METHODS)
    cfg = make_config("smoke", bank_size=8)
    pce = get_method("pce")(cfg).build_model()
    cim = get_method("cim")(cfg).build_model()
    assert type(pce) is UNet
    assert isinstance(cim, CIM) and cim.cfg.bank_size == 8


def test_get_method_unknown_lists_known():
    """An unknown method raises ConfigError naming the known methods."""
    with pytest.raises(ConfigError) as info:
        get_method("nope")
    assert "pce" in str(info.value) and "cim" in str(info.value)


def test_register_new_method_is_local():
    """Decorating a Method subclass makes it available to get_method and make_config."""
    assert "unit_test_method" not in METHODS
    try:
        @register("unit_test_method")
        class Mine(Method):
            pass

        assert get_method("unit_test_method") is Mine
        assert Mine.name == "unit_test_method"
        assert make_config("smoke", method="unit_test_method").method == "unit_test_method"
    finally:
        METHODS.pop("unit_test_method", None)
    with pytest.raises(ConfigError):
        get_method("unit_test_method")
