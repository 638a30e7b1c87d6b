"""Fetch and verify data files against the SHA-256 manifests shipped with the package.

Each file is written to a temporary name beside its destination, hashed on the way, and moved
into place (``os.replace``) only when it matches the manifest."""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError
from ..progress import progress_bar
from .checksums import CHUNK_SIZE, sha256_file

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

log = logging.getLogger(__name__)

ENV_VAR = "SCRIBCIM_DATA"
TIMEOUT_S = 60.0
MANIFESTS: dict[str, str] = {"acdc": "acdc.sha256", "mscmr": "mscmr.sha256"}
BASE_URLS: dict[str, str] = {
    "acdc": "https://raw.githubusercontent.com/HiLab-git/WSL4MIS/"
    "a594da8d99a42860bf1dad7cea02bd168e3683b1/data/",
    "mscmr": "https://raw.githubusercontent.com/BWGZK/CycleMix/"
    "76748303cdfa307a9ce1f5969d95f675a1cb9066/",
}
# Files with no download URL, shipped in the package instead (relpath -> resource name).
PACKAGED: dict[str, str] = {"ACDC/spacing.csv": "acdc_spacing.csv"}

urlopen = urllib.request.urlopen  # module attribute so tests can replace the opener


def _resource(name: str) -> Traversable:
    return resources.files("scribcim.data") / "resources" / name


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _fix(dataset: str, root: Path) -> str:
    return f"run `scribcim fetch {dataset} --data {root}` to fetch it again"


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Return ``root``, else ``$SCRIBCIM_DATA``, else ``./data`` (from the cwd), made absolute."""
    if root is None or str(root) == "":
        root = os.environ.get(ENV_VAR) or "data"
    return Path(os.path.abspath(Path(root).expanduser()))


def load_manifest(dataset: str) -> dict[str, str]:
    """Return the packaged manifest of ``dataset``: path relative to the data root -> SHA-256.

    Raises:
        ConfigError: Unknown dataset (the message lists the known ones).
    """
    key = dataset.lower()
    if key not in MANIFESTS:
        raise ConfigError(f"unknown dataset {dataset!r}: use one of {', '.join(sorted(MANIFESTS))}")
    text = _resource(MANIFESTS[key]).read_text(encoding="utf-8")
    pairs = [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if any(len(p) != 2 or len(p[0]) != 64 for p in pairs):
        raise DataError(f"malformed packaged manifest {MANIFESTS[key]}: reinstall scribcim")
    return {rel.lstrip("*"): digest.lower() for digest, rel in pairs}


def verify(dataset: str, root: str | os.PathLike[str] | None = None, *, quick: bool = False) -> None:
    """Check that every manifest file of ``dataset`` is under ``root`` and matches its checksum.

    Hashing all of ACDC (about 118 MB) takes about a second: fine before every training run.

    Args:
        dataset: Dataset name (``"acdc"``).
        root: Data root; see :func:`resolve_data_root`.
        quick: Check presence only, no hashing (the manifest holds no sizes).

    Raises:
        DataError: Naming the first missing or mismatching file and the fix.
    """
    root = resolve_data_root(root)
    manifest = load_manifest(dataset)
    if root.is_file():  # a lossless pack (scribcim pack) standing in for the folder
        from .pack import check_pack_covers
        check_pack_covers(root, dataset, [Path(rel).stem for rel in manifest if rel.endswith(".h5")])
        return
    for top in sorted({rel.split("/", 1)[0] for rel in manifest}):
        if not (root / top).is_dir():
            raise DataError(
                f"data folder {root / top} not found: run `scribcim fetch {dataset} --data {root}` "
                f"or set {ENV_VAR} to the folder that holds {top}/"
            )
    for rel, expected in sorted(manifest.items()):
        path = root / rel
        if not path.is_file():
            raise DataError(f"missing data file {path}: {_fix(dataset, root)}")
        got = expected if quick else sha256_file(path)
        if got != expected:
            raise DataError(
                f"checksum mismatch for {path} (expected {expected}, got {got}): {_fix(dataset, root)}"
            )
    log.debug("verified %d %s files under %s (quick=%s)", len(manifest), dataset, root, quick)


def _file_chunks(path: Path | Traversable) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK_SIZE):
                yield chunk
    except OSError as exc:
        raise DataError(f"cannot read source file {path} ({_one_line(exc)}): check --from") from exc


def _url_chunks(url: str) -> Iterator[bytes]:
    try:
        with urlopen(url, timeout=TIMEOUT_S) as response:
            while chunk := response.read(CHUNK_SIZE):
                yield chunk
    except (OSError, http.client.HTTPException) as exc:  # URLError, HTTPError, timeouts
        raise DataError(
            f"download of {url} failed ({_one_line(exc)}): retry, or copy from a local folder "
            f"with `--from DIR`"
        ) from exc


def _install(dest: Path, expected: str, chunks: Iterator[bytes], source: str) -> None:
    """Write ``chunks`` to a temp file beside ``dest``, check the hash, then move it in place; on failure the
    temp file and the folders made for it go (nothing left behind)."""
    made = [d for d in (dest.parent, *dest.parent.parents) if not d.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
        got = digest.hexdigest()
        if got != expected:
            raise DataError(
                f"checksum mismatch for {source} (expected {expected}, got {got}): the source is "
                f"corrupt or not the pinned version; delete it and re-download it, or use another --from"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        for d in made:  # deepest first; a folder another file has since filled stays
            try:
                d.rmdir()
            except OSError:
                break
        raise


def fetch(
    dataset: str,
    root: str | os.PathLike[str] | None = None,
    *,
    source_dir: str | os.PathLike[str] | None = None,
    if_missing: bool = False,
    progress: bool = True,
) -> Path:
    """Put every manifest file of ``dataset`` under ``root``, checked against its SHA-256.

    Files come from ``source_dir/<relpath>`` (same layout, never written to) or from the pinned
    public source (WSL4MIS at a fixed commit). ``ACDC/spacing.csv`` (from the NIfTI headers of
    BWGZK/ModelMix, see SOURCES.md) ships in the package; it is used when ``source_dir`` lacks it.

    Args:
        dataset: Dataset name (``"acdc"``).
        root: Destination data root; see :func:`resolve_data_root`.
        source_dir: Local folder to copy from instead of downloading.
        if_missing: Return at once when ``root`` already verifies.
        progress: Show a progress bar over files.

    Returns:
        The absolute data root.

    Raises:
        DataError: Missing source, failed download or checksum mismatch (nothing left behind).
    """
    root = resolve_data_root(root)
    manifest = load_manifest(dataset)
    if if_missing:
        try:
            verify(dataset, root)
        except DataError as exc:
            log.info("data not complete yet (%s); fetching", exc)
        else:
            log.info("%s data already present and verified under %s", dataset, root)
            return root
    src = None if source_dir is None else resolve_data_root(source_dir)
    if src is not None and not src.is_dir():
        raise DataError(f"source folder {src} not found: check --from")
    if src == root:  # copying onto itself: nothing to write, just check it
        verify(dataset, root)
        return root
    copied = skipped = 0
    items = sorted(manifest.items())
    for rel, expected in progress_bar(items, enabled=progress, desc=f"fetch {dataset}", unit="file"):
        dest = root / rel
        if dest.is_file() and sha256_file(dest) == expected:
            skipped += 1
            continue
        if src is not None and ((src / rel).is_file() or rel not in PACKAGED):
            source = src / rel
            if not source.is_file():
                raise DataError(f"source file {source} not found: check that --from {src} holds {rel}")
            _install(dest, expected, _file_chunks(source), str(source))
        elif rel in PACKAGED:
            name = PACKAGED[rel]
            _install(dest, expected, _file_chunks(_resource(name)), f"packaged resource {name}")
        else:
            url = BASE_URLS[dataset.lower()] + rel
            log.debug("downloading %s", url)
            _install(dest, expected, _url_chunks(url), url)
        copied += 1
    log.info("%s: %d files written, %d already present, under %s", dataset, copied, skipped, root)
    return root


def check_hdf5(path: str | os.PathLike[str], keys: Sequence[str] = ("image", "label", "scribble")) -> None:
    """Check that an HDF5 file opens, holds ``keys``, and that their arrays read in full.

    Raises:
        DataError: File missing, unreadable (corrupt or truncated) or lacking a key.
    """
    import h5py

    path, fix = Path(path), "re-fetch it with `scribcim fetch`"
    if not path.is_file():
        raise DataError(f"missing data file {path}: {fix}")
    try:
        with h5py.File(path, "r") as fh:
            missing = [k for k in keys if k not in fh]
            for key in set(keys) - set(missing):
                fh[key][()]  # reading the arrays also catches truncation past the header
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        reason = _one_line(exc)[:120]
        raise DataError(f"cannot read HDF5 file {path} (corrupt or truncated: {reason}): {fix}") from exc
    if missing:
        raise DataError(f"HDF5 file {path} lacks key(s) {', '.join(missing)}: {fix}")
