"""``run_info.json``: the self-describing part of a run folder (class names, input size, geometry and scale,
normalisation, orientation), and the strict JSON reader for a run folder's files."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from ..data.normalise import DEFAULT_NORMALISATION
from ..data.scans import ORIENTATION
from ..data.volumes import Volume
from ..errors import ConfigError
from ..evaluate.metrics import CLASS_NAMES
from .log import write_json

log = logging.getLogger(__name__)

RUN_INFO_FORMAT = 1


def label_names(num_classes: int = len(CLASS_NAMES) + 1) -> list[str]:
    """Class names by label value: background, RV, MYO, LV."""
    names = ["background", *CLASS_NAMES]
    return names[:num_classes] + [f"class{k}" for k in range(len(names), num_classes)]


def make_run_info(config: Any, volumes: Sequence[Volume] | None = None) -> dict[str, Any]:
    """The self-describing part of a run folder beside ``config.json`` (written by ``train``).

    ``volumes``: the training volumes, whose slices give the input ``scale`` (:mod:`scribcim.evaluate.geometry`).
    """
    info = {"format": RUN_INFO_FORMAT, "class_names": label_names(config.num_classes),
            "input_size": config.input_size, "in_channels": 1, "normalisation": DEFAULT_NORMALISATION,
            "orientation": ORIENTATION}
    from ..data.frame import frame_of
    info["geometry"] = frame_of(config).describe()
    if volumes is not None:
        from ..evaluate.geometry import training_scale
        info["scale"] = training_scale(volumes, config.input_size, config.pixel_mm)
    return info


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """A JSON file of a run folder, or a one-line :class:`ConfigError` saying what is wrong and ``fix``."""
    import json
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}): {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path} ({type(exc).__name__}): {fix}") from None


RUN_INFO_KEYS = ("class_names", "input_size", "normalisation")


def read_run_info(run_dir: Path, config: Any) -> dict[str, Any]:
    """``run_info.json`` of a run folder; a folder from before it existed gets the defaults."""
    path = Path(run_dir) / "run_info.json"
    if not path.is_file():
        log.warning("%s missing (run folder from an older version): using the current defaults", path)
        return make_run_info(config)
    fix = "copy the run folder again from where it was trained, or delete the file to use the defaults"
    info = read_json_file(path, "run info", fix)
    if not isinstance(info, dict) or info.get("format") != RUN_INFO_FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise ConfigError(f"{path} has format {got}, this scribcim reads format "
                          f"{RUN_INFO_FORMAT}: use the scribcim version that trained it, or retrain")
    missing = [k for k in RUN_INFO_KEYS if k not in info]
    if missing:
        raise ConfigError(f"{path} lacks {missing}: {fix}")
    return info


def run_scale(info: dict[str, Any], config: Any) -> dict[str, Any]:
    """The run's input ``scale`` (mm per model pixel, typical spacing); a run without one gets its
    dataset's typical values, with a warning saying which."""
    scale = info.get("scale")
    if isinstance(scale, dict) and float(scale.get("mm_per_pixel", 0)) > 0:
        return scale
    from ..evaluate.geometry import fallback_scale
    scale = fallback_scale(config.dataset, int(info["input_size"]))
    log.warning("run_info.json records no input scale (run trained before scribcim recorded it): assuming %s, "
                "%.3f mm per model pixel (field of view %.0f mm), typical spacing %s mm", scale["source"],
                scale["mm_per_pixel"], scale["fov_mm"], "x".join(f"{s:g}" for s in scale["spacing_mm"]))
    return scale


def write_labels_json(folder: Path, class_names: Sequence[str], **extra: Any) -> None:
    """``labels.json``: label value -> class name (plus where the labels came from)."""
    write_json(Path(folder) / "labels.json", {"labels": {str(i): n for i, n in enumerate(class_names)}, **extra})
