"""Tests of scribcim.data.pack: the lossless ACDC training pack decodes to exactly its source arrays."""
from __future__ import annotations

import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scribcim.cli import main
from scribcim.data.pack import CODECS, load_pack, pack_acdc, pack_volumes, verify_pack
from scribcim.data.phantom import phantom_volumes, write_phantom
from scribcim.data.volumes import load_acdc
from scribcim.errors import ConfigError, DataError

MIB = 2**20


def assert_same_volumes(got, want):
    """Same cases in the same order, bit-identical arrays (dtype and shape included), same spacing."""
    assert [v.case for v in got] == [v.case for v in want]
    for a, b in zip(got, want):
        assert (a.patient, a.spacing) == (b.patient, b.spacing), a.case
        assert a.image.dtype == b.image.dtype == np.float32 and a.image.shape == b.image.shape, a.case
        assert np.array_equal(a.image.view(np.uint32), b.image.view(np.uint32)), a.case
        for name in ("label", "scribble"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), (a.case, name)


@pytest.mark.parametrize("codec", CODECS)
def test_phantom_pack_round_trip_is_exact(tmp_path, codec):
    """Phantom volumes (with -0.0 and odd float values added) come back bit for bit with either codec."""
    vols = phantom_volumes(2)
    vols[0].image[0, 0, :3] = [-0.0, 1e-30, 3.4e38]
    out = pack_volumes(vols, tmp_path / "p.zip", codec=codec)
    assert_same_volumes(load_pack(out), vols)
    report = verify_pack(out)
    assert report["volumes"] == 4 and report["codec"] == codec and report["bytes"] == out.stat().st_size
    assert not list(tmp_path.glob(".*part"))  # nothing half-written left behind


def test_pack_acdc_layout_matches_load_acdc_and_hdf5(tmp_path):
    """pack_acdc on an ACDC-layout folder: decodes to what load_acdc reads; subsets by case and patient."""
    root = write_phantom(tmp_path / "data", num_patients=3)
    report = pack_acdc(root, tmp_path / "packs" / "acdc.zip")
    assert report["volumes"] == 6 and Path(report["path"]).is_file()
    assert_same_volumes(load_pack(report["path"]), load_acdc(root))
    assert [v.case for v in load_pack(report["path"], patients=[2])] == ["patient002_frame01", "patient002_frame02"]
    assert [v.case for v in load_pack(report["path"], cases=["patient003_frame02"])] == ["patient003_frame02"]


def test_refuses_to_write_inside_the_data_root(tmp_path):
    root = write_phantom(tmp_path / "data", num_patients=1)
    with pytest.raises(ConfigError, match="inside the data root"):
        pack_acdc(root, root / "ACDC" / "pack.zip")


def _rewrite(src: Path, dst: Path, edit) -> None:
    """Copy a zip, passing the manifest through ``edit``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "manifest.json":
                m = json.loads(data)
                edit(m)
                data = json.dumps(m).encode()
            zout.writestr(info, data)


def test_checksum_mismatch_is_detected(tmp_path):
    """A manifest whose SHA-256 disagrees with the decoded array: DataError naming the file, array and fix."""
    good = pack_volumes(phantom_volumes(1), tmp_path / "good.zip")
    bad = tmp_path / "bad.zip"

    def edit(m):
        m["cases"][1]["arrays"]["label"]["sha256"] = "0" * 64
    _rewrite(good, bad, edit)
    with pytest.raises(DataError, match=r"checksum mismatch in pack .*bad\.zip for patient001_frame02/label") as e:
        load_pack(bad)
    assert "scribcim pack" in str(e.value)
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_pack(bad)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_pack_is_detected(tmp_path, damage):
    """Flipped bytes inside an image stream, or a truncated file: one-line DataError with the file and the fix."""
    path = pack_volumes(phantom_volumes(1), tmp_path / "p.zip")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("patient001_frame01/image")
        at = info.header_offset + 30 + len(info.filename) + info.compress_size // 2  # inside the stored stream
        data[at:at + 8] = bytes(b ^ 0xFF for b in data[at:at + 8])
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"pack .*p\.zip") as e:
        load_pack(path)
    assert "scribcim pack" in str(e.value) and "\n" not in str(e.value)


def test_missing_pack(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_pack(tmp_path / "nothing.zip")


def test_cli_pack_and_verify(tmp_path, capsys):
    root = write_phantom(tmp_path / "data", num_patients=1)
    out = tmp_path / "acdc.zip"
    assert main(["pack", "--data", str(root), "--out", str(out), "--codec", "lzma"]) == 0
    assert "2 volumes" in capsys.readouterr().out
    assert main(["pack", "--data", str(root), "--out", str(out), "--verify-only"]) == 0
    assert "every array verified" in capsys.readouterr().out
    assert main(["pack", "--data", str(root), "--out", str(tmp_path / "none.zip"), "--verify-only"]) == 2
    record = tmp_path / "pack.json"
    assert main(["pack", "--data", str(root), "--out", str(out), "--verify-only", "--record", str(record)]) == 0
    r = json.loads(record.read_text())
    assert (r["codec"], r["volumes"]) == ("lzma", 2) and r["bits_per_pixel"] > 0 and r["mib"] >= 0
    assert r["provenance"]["data"] is not None and r["provenance"]["git"]["commit"]
    before = record.stat().st_mtime_ns
    assert main(["pack", "--data", str(root), "--out", str(out), "--verify-only", "--record", str(record)]) == 0
    assert record.stat().st_mtime_ns == before  # the same measurement leaves the record alone


@pytest.mark.realdata
def test_real_acdc_pack_subset_exact(real_root, tmp_path):
    """Ten real ACDC volumes (every 20th): exact decode, checked against the HDF5 files."""
    cases = sorted(p.stem for p in (real_root / "ACDC" / "ACDC_training_volumes").glob("*.h5"))[::20]
    report = pack_acdc(real_root, tmp_path / "acdc10.zip", cases=cases)
    assert report["volumes"] == len(cases) == 10
    assert_same_volumes(load_pack(report["path"]), load_acdc(real_root, cases=cases))
    assert report["bits_per_pixel"] < 5.0  # about 4.1 on these; 4.36 over all 200 volumes (53 MiB)


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("SCRIBCIM_FULL_PACK"), reason="set SCRIBCIM_FULL_PACK=1 (about 70-120 s)")
def test_real_acdc_full_pack_under_64_mib(real_root, tmp_path):
    """All 200 ACDC volumes: the pack is under 64 MiB and decodes exactly to the HDF5 arrays."""
    t0 = time.perf_counter()
    report = pack_acdc(real_root, tmp_path / "acdc.zip")
    print(f"full ACDC pack: {report['bytes'] / MIB:.1f} MiB, {report['bits_per_pixel']:.2f} bits/pixel, "
          f"{time.perf_counter() - t0:.0f} s")
    assert report["volumes"] == 200 and report["bytes"] < 64 * MIB


@pytest.mark.realdata
def test_pack_as_data_root(real_root, tmp_path):
    """A pack file given as the ACDC data root loads the same volumes; verify() refuses an incomplete one."""
    from scribcim.data import get_dataset
    from scribcim.data.fetch import verify
    from scribcim.data.pack import pack_acdc
    from scribcim.errors import DataError

    cases = ["patient003_frame01", "patient003_frame15", "patient004_frame01", "patient004_frame15"]
    pack = Path(pack_acdc(real_root, tmp_path / "p.zip", codec="lzma", cases=cases)["path"])
    from_pack = get_dataset("acdc").loader(pack, [3, 4])
    from_files = get_dataset("acdc").loader(real_root, [3, 4])
    assert [v.case for v in from_pack] == [v.case for v in from_files] == cases
    for a, b in zip(from_pack, from_files, strict=True):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.scribble, b.scribble)
        assert np.array_equal(a.label, b.label) and a.spacing == b.spacing
    with pytest.raises(DataError, match="lacks 196 ACDC case"):
        verify("acdc", pack)
    with pytest.raises(DataError, match="only ACDC"):
        verify("mscmr", pack)
