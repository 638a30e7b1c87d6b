"""Tests of scribcim.data.fetch on a small fake dataset (no network)."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest

from scribcim.data import fetch as F
from scribcim.errors import ConfigError, DataError

VOL = "ACDC/ACDC_training_volumes"
SPACING = "ACDC/spacing.csv"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Source folder with two fake volumes + the real packaged spacing.csv; manifest patched."""
    src = tmp_path / "src"
    files = {
        f"{VOL}/patient001_frame01.h5": b"alpha" * 100,
        f"{VOL}/patient001_frame12.h5": b"beta" * 70,
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    spacing = (Path(F.__file__).parent / "resources" / "acdc_spacing.csv").read_bytes()
    (src / SPACING).write_bytes(spacing)
    files[SPACING] = spacing
    manifest = {rel: _sha(data) for rel, data in files.items()}
    monkeypatch.setattr(F, "load_manifest", lambda dataset: dict(manifest))
    return {"src": src, "dest": tmp_path / "dest", "files": files}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_real_manifest_and_unknown_dataset() -> None:
    manifest = F.load_manifest("acdc")
    assert len(manifest) == 201 and SPACING in manifest
    assert all(len(d) == 64 for d in manifest.values())
    packaged = (Path(F.__file__).parent / "resources" / "acdc_spacing.csv").read_bytes()
    assert _sha(packaged) == manifest[SPACING]
    with pytest.raises(ConfigError, match="acdc"):
        F.load_manifest("nope")


def test_sha256_file(tmp_path: Path) -> None:
    data = os.urandom(3 * F.CHUNK_SIZE + 17)
    (tmp_path / "x").write_bytes(data)
    assert F.sha256_file(tmp_path / "x") == _sha(data)


def test_copy_from_local_folder(fake: dict) -> None:
    before = {p: p.read_bytes() for p in fake["src"].rglob("*") if p.is_file()}
    root = F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)
    assert root == fake["dest"].resolve()
    for rel, data in fake["files"].items():
        assert (root / rel).read_bytes() == data
    F.verify("acdc", root)
    F.verify("acdc", root, quick=True)
    assert not [p for p in root.rglob("*.part")]
    assert {p: p.read_bytes() for p in fake["src"].rglob("*") if p.is_file()} == before


def test_corrupt_source_refused_and_nothing_left(fake: dict) -> None:
    rel = f"{VOL}/patient001_frame12.h5"
    bad = bytearray(fake["files"][rel])
    bad[10] ^= 0x01
    (fake["src"] / rel).write_bytes(bytes(bad))
    with pytest.raises(DataError, match="checksum mismatch for .*patient001_frame12.h5") as err:
        F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)
    assert "\n" not in str(err.value)
    vol_dir = fake["dest"] / VOL
    assert "patient001_frame12.h5" not in _leftovers(vol_dir)
    assert not [n for n in _leftovers(vol_dir) if n.endswith(".part")]


def test_missing_source_file(fake: dict) -> None:
    (fake["src"] / f"{VOL}/patient001_frame01.h5").unlink()
    with pytest.raises(DataError, match="patient001_frame01.h5.*--from"):
        F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)


def test_spacing_falls_back_to_package_when_source_lacks_it(fake: dict) -> None:
    (fake["src"] / SPACING).unlink()
    root = F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)
    assert (root / SPACING).read_bytes() == fake["files"][SPACING]


def test_verify_missing_root_mentions_env(tmp_path: Path, fake: dict) -> None:
    with pytest.raises(DataError, match="SCRIBCIM_DATA"):
        F.verify("acdc", tmp_path / "nowhere")


def test_verify_names_bad_file(fake: dict) -> None:
    root = F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)
    target = root / f"{VOL}/patient001_frame01.h5"
    target.write_bytes(b"tampered")
    F.verify("acdc", root, quick=True)
    with pytest.raises(DataError, match="patient001_frame01.h5.*scribcim fetch acdc"):
        F.verify("acdc", root)
    target.unlink()
    with pytest.raises(DataError, match="missing data file .*patient001_frame01.h5"):
        F.verify("acdc", root, quick=True)


def test_if_missing_skips_and_refetch_repairs(
    fake: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = F.fetch("acdc", fake["dest"], source_dir=fake["src"], progress=False)

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("should not write anything")

    with monkeypatch.context() as mp:
        mp.setattr(F, "_install", boom)
        assert F.fetch("acdc", root, source_dir=fake["src"], if_missing=True, progress=False) == root
        assert F.fetch("acdc", root, source_dir=fake["src"], progress=False) == root  # all skipped
    (root / SPACING).write_bytes(b"broken")
    F.fetch("acdc", root, source_dir=fake["src"], if_missing=True, progress=False)
    F.verify("acdc", root)


def test_resolve_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SCRIBCIM_DATA", raising=False)
    assert F.resolve_data_root() == tmp_path.resolve() / "data"
    monkeypatch.setenv("SCRIBCIM_DATA", str(tmp_path / "env"))
    assert F.resolve_data_root() == tmp_path / "env"
    assert F.resolve_data_root("rel") == tmp_path.resolve() / "rel"
    assert F.resolve_data_root(tmp_path / "arg").is_absolute()
    assert F.resolve_data_root(tmp_path / "arg") == tmp_path / "arg"


class _Response(io.BytesIO):
    pass


def test_download_path_with_fake_opener(fake: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    by_name = {Path(rel).name: data for rel, data in fake["files"].items() if rel != SPACING}
    urls: list[str] = []

    def opener(url: str, timeout: float) -> _Response:
        urls.append(url)
        assert timeout > 0
        return _Response(by_name[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(F, "urlopen", opener)
    root = F.fetch("acdc", fake["dest"], progress=False)
    F.verify("acdc", root)
    base = F.BASE_URLS["acdc"] + VOL
    assert urls == [f"{base}/patient001_frame01.h5", f"{base}/patient001_frame12.h5"]
    assert urls[0].startswith("https://raw.githubusercontent.com/HiLab-git/WSL4MIS/a594da8d")
    assert "/data/ACDC/ACDC_training_volumes/" in urls[0]


def test_download_failure_and_bad_download(fake: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, timeout: float) -> _Response:
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(F, "urlopen", offline)
    with pytest.raises(DataError, match=r"raw\.githubusercontent\.com.*--from DIR"):
        F.fetch("acdc", fake["dest"], progress=False)
    assert not fake["dest"].exists()  # the folders made for the file went with it
    (fake["dest"] / "mine").mkdir(parents=True)  # a folder that was there before stays
    with pytest.raises(DataError, match="no route to host"):
        F.fetch("acdc", fake["dest"], progress=False)
    assert sorted(p.name for p in fake["dest"].iterdir()) == ["mine"]
    monkeypatch.setattr(F, "urlopen", lambda url, timeout: _Response(b"<html>moved</html>"))
    with pytest.raises(DataError, match="checksum mismatch for https://.*patient001_frame01.h5"):
        F.fetch("acdc", fake["dest"], progress=False)
    assert not [n for n in _leftovers(fake["dest"]) if n.endswith(".h5") or n.endswith(".part")]


def _write_h5(path: Path) -> None:
    with h5py.File(path, "w") as fh:
        fh["image"] = np.random.default_rng(0).random((4, 32, 32), dtype=np.float32)
        fh["label"] = np.zeros((4, 32, 32), np.uint8)
        fh["scribble"] = np.full((4, 32, 32), 4, np.uint16)


def test_check_hdf5(tmp_path: Path) -> None:
    good = tmp_path / "good.h5"
    _write_h5(good)
    F.check_hdf5(good)
    data = good.read_bytes()
    for cut in (len(data) // 2, 100):
        bad = tmp_path / f"cut{cut}.h5"
        bad.write_bytes(data[:cut])
        with pytest.raises(DataError, match=f"cut{cut}.h5.*re-fetch it") as err:
            F.check_hdf5(bad)
        assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="lacks key.*extra"):
        F.check_hdf5(good, keys=("image", "extra"))
    with pytest.raises(DataError, match="missing data file"):
        F.check_hdf5(tmp_path / "absent.h5")


@pytest.mark.realdata
def test_real_acdc_verifies() -> None:
    env = os.environ.get("SCRIBCIM_DATA")
    if not env or not (Path(env) / "ACDC").is_dir():
        pytest.skip("SCRIBCIM_DATA is not set or holds no ACDC folder")
    F.verify("acdc", env, quick=False)
