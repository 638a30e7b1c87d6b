"""A run's error-band rows kept beside it, so that ``make error-bands`` over a growing set of runs measures only the
new ones (each run's inference over its 40 test volumes takes about a minute on one CPU thread).

``<run>/error_bands_<checkpoint>.json`` holds the rows of :func:`scribcim.analysis.error_bands.run_error_bands`
with a key: the SHA-256 of the run's ``summary.json`` (a run evaluated again gets a new one), of the error-band
code (``error_bands.py``, passed in: any change of how the bands are measured) and of the data root's path. A file whose key
differs is measured again and rewritten; a run folder that cannot be written to is measured every time.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)


def cache_key(run_dir: Path, checkpoint: str, data_root: str | None, code: Path) -> str:
    """What the rows of ``run_dir`` at ``checkpoint`` depend on: its summary, the band code (the source file
    ``code``), the data root named."""
    h = hashlib.sha256()
    for part in ((Path(run_dir) / "summary.json").read_bytes(), Path(code).read_bytes(),
                 checkpoint.encode(), str(data_root).encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """A JSON value for a row's cell (numpy scalars to Python's; NaN kept: the rows use it for "not defined")."""
    return value.item() if hasattr(value, "item") else value


def cached_rows(run_dir: Path | str, checkpoint: str, data_root: str | None, measure: Callable[[], list[dict]],
                code: Path, *, fresh: bool = False) -> list[dict]:
    """The rows of ``run_dir`` at ``checkpoint``: from its cache file when the key (:func:`cache_key`) matches
    (and not ``fresh``), else ``measure()``, written to the cache file for the next call."""
    run_dir = Path(run_dir)
    path = run_dir / f"error_bands_{checkpoint}.json"
    key = cache_key(run_dir, checkpoint, data_root, code)
    if not fresh and path.is_file():
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError) as err:  # a file cut short by an interruption: measure again
            log.warning("%s unreadable (%s): measuring the run again", path, err)
        else:
            if kept.get("key") == key:
                log.info("%s: error bands from %s", run_dir, path.name)
                return kept["rows"]
    rows = [{k: _plain(v) for k, v in r.items()} for r in measure()]
    try:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"key": key, "rows": rows}, allow_nan=True))
        tmp.replace(path)  # whole or not at all
    except OSError as err:
        log.warning("could not keep the error bands of %s (%s): they are measured again next time", run_dir, err)
    return rows

