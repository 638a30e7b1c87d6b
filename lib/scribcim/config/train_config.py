"""The one configuration object of a run (:class:`TrainConfig`): every option, described once.

CIM's settings, the ablation settings and what a run saw are read from its field metadata; the named
profiles it starts from are in :mod:`scribcim.config.profiles`.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import ConfigError
from .profiles import PROFILES


def _f(default: Any, help: str, choices: Any = None, *, cim: str | None = None, variant: bool = False,
       seen: bool = False) -> Any:
    """A :class:`TrainConfig` field with its option help and choices (the one place an option is described).

    ``choices``: a tuple, or the name of a registry (:func:`field_choices`). ``cim``: the
    :class:`scribcim.models.CIMConfig` field it sets (the one place a CIM setting is mapped).
    ``variant``: a method setting that makes a run an ablation (:data:`METHOD_SETTINGS`). ``seen``: it fixes
    what a run saw (data, split, batches, banks), which the matching views redraw (:data:`SEEN_SETTINGS`).
    """
    return field(default=default, metadata={"help": help, "choices": choices, **({"cim": cim} if cim else {}),
                                            "variant": variant, "seen": seen})


@dataclass
class TrainConfig:
    """Everything a run depends on. Every field can be overridden (CLI: ``--field-name``)."""

    dataset: str = _f("acdc", "dataset to train on", "datasets", seen=True)
    method: str = _f("cim", "training method (scribcim.training.methods)", "methods", seen=True)
    fold: int = _f(1, "cross-validation fold: 1-5 (ACDC: 20 test patients each); MSCMR has one fixed split, fold 1",
                   seen=True)
    profile: str = _f("quick", "named profile: the base values that the other options override", "profiles")
    seed: int = _f(2022, "seed (>= 0) of the initial weights, the batches and dropout", seen=True)
    # where things live
    data_root: str | None = _f(None, "data root (also --data); else $SCRIBCIM_DATA, else ./data")
    runs_root: str = _f("runs", "run folders go to RUNS_ROOT/<dataset>/<profile>/<method>/fold<k>/seed<s>")
    results_root: str = _f("results", "where a run's committed summary goes (same layout as under runs_root)")
    run_dir: str | None = _f(None, "this run folder instead of the runs_root layout")
    # optimisation
    input_size: int = _f(256, "network input side in pixels (multiple of 16): what the network sees", seen=True)
    pixel_mm: float | None = _f(None, "mm per model pixel: each slice is seen at this fixed spacing through a "
                                      "window of input_size pixels centred on the slice (unset: every whole slice "
                                      "is resized to input_size, as the released code)", seen=True)
    batch_size: int = _f(6, "slices per training batch (>= 1)", seen=True)
    max_iterations: int = _f(60_000, "training iterations (>= 1)")
    lr: float = _f(0.01, "initial SGD learning rate (> 0), poly decay")
    momentum: float = _f(0.9, "SGD momentum, in [0, 1)")
    weight_decay: float = _f(1e-4, "SGD weight decay (>= 0)")
    poly_power: float = _f(0.9, "learning rate at iteration i: lr * (1 - i / max_iterations) ** poly_power")
    # bookkeeping
    val_every: int = _f(200, "iterations between validations (best.pt is the best of them)")
    checkpoint_every: int = _f(1000, "iterations between saves of latest.pt (what --resume continues from)")
    log_every: int = _f(20, "iterations between records in metrics.jsonl and TensorBoard")
    val_patients: int | None = _f(None, "validation patients drawn from the fold's training patients "
                                        "(>= 1; default: ACDC 8, phantom 2; MSCMR's 5 are fixed)", seen=True)
    stop_after: int | None = _f(None, "stop after this many iterations of this call (continue with --resume)")
    resume: bool = _f(False, "continue the run in the run folder from its latest.pt")
    progress: bool = _f(True, "show a progress bar")
    # exponential moving average of the weights (0: off); validation and checkpoints' eval weights use it
    ema_decay: float = _f(0.0, "decay of a weight average used for validation and checkpoints, in [0, 1) (0: off)")
    # hardware
    device: str = _f("cpu", "cpu, cuda or cuda:N")
    bf16: bool = _f(False, "bfloat16 autocast")
    channels_last: bool = _f(False, "channels-last (NHWC) memory format")
    deterministic: bool = _f(False, "torch's deterministic algorithms (warns where there are none)")
    num_threads: int = _f(0, "torch CPU threads (>= 0; 0: torch's default)")
    # keep the training slices on the device and augment there (scribcim.data.device_batches);
    # other batches than make_batch's (torch's random stream, resize before augmentation)
    device_data: bool = _f(False, "keep the training slices on the device and augment there (other batches "
                                  "than the CPU pipeline's)")
    # network: "bilinear" up-sampling (1x1 conv + bilinear x2, as released) or "transposed" (2x2 conv)
    upsample: str = _f("bilinear", "decoder up-sampling: bilinear (1x1 conv + bilinear x2, as released) or "
                                   "transposed (2x2 transposed conv)", "upsample")
    # method; ``variant``: a setting that makes a run an ablation (METHOD_SETTINGS, in this order)
    num_classes: int = _f(4, "output classes: background, RV, MYO, LV (the datasets' labels)", seen=True)
    cim_level: int = _f(0, "CIM: decoder blocks before matching (0: at 1/16 of the input, 1: at 1/8)", "cim_level",
                        cim="level")
    sampling: str = _f("any", "CIM: which cells feed the banks", ("any", "majority"), cim="sampling")
    use_banks: bool = _f(True, "CIM: pixel-level matching against the class banks", cim="use_banks", variant=True)
    use_tokens: bool = _f(True, "CIM: class-token matching", cim="use_tokens", variant=True)
    matching: str = _f("soft", "CIM: soft (softmax attention) or hard (one-hot argmax) matching", ("soft", "hard"),
                       cim="matching", variant=True)
    bank_size: int = _f(1000, "CIM: entries per class bank (>= 1)", cim="bank_size", variant=True, seen=True)
    token_momentum: float = _f(0.99, "CIM: momentum of the class tokens' moving average, in [0, 1)", cim="momentum",
                               variant=True)
    faithful: bool = _f(False, "CIM: the released code's bank sampling and absent-class update (cim_level 0)",
                        cim="faithful", variant=True)
    token_source: str = _f("pixel", "CIM: features feeding the class tokens", ("pixel", "token"), cim="token_source",
                           variant=True)
    self_dice_weight: float = _f(0.5, "weight (>= 0) of the self-Dice term of pce_selfdice and cim", variant=True)
    # training scribbles: "expert" or a simulated annotator (scribcim.data.scribbles.ANNOTATORS)
    scribbles: str = _f("expert", "training scribbles: the dataset's expert ones or a simulated annotator's",
                        "scribbles", seen=True)
    inconsistency: float = _f(0.0, "simulated scribbles: probability, in [0, 1], that a volume is drawn by "
                                   "another annotator than --scribbles", seen=True)
    scribble_seed: int = _f(0, "seed (>= 0) of the simulated scribbles", seen=True)
    # evaluation
    empty_penalty: float | None = _f(None, "HD95/ASD in mm (> 0) for a missed structure (default: undefined)")
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "free-form notes kept with the run"})

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` for a bad value; return self."""
        from ..data.datasets import get_dataset, split_for
        from ..training.methods import get_method
        method = get_method(self.method)
        dataset = get_dataset(self.dataset)
        split_for(self.dataset, self.fold, self.val_patients)
        if self.input_size % 16 or self.input_size < 16:
            raise ConfigError(f"input_size must be a positive multiple of 16, got {self.input_size}")
        from ..data.frame import Frame
        Frame(self.input_size, self.pixel_mm)
        for name in ("batch_size", "max_iterations", "val_every", "checkpoint_every", "log_every", "bank_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("seed", "scribble_seed", "num_threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}"
                                  + (" (0: torch's default)" if name == "num_threads" else ""))
        for name in ("val_patients", "stop_after"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1 (or unset), got {getattr(self, name)}")
        if self.num_classes != 4:
            raise ConfigError(f"num_classes must be 4 (background, RV, MYO, LV: the datasets' labels), "
                              f"got {self.num_classes}")
        for name in ("lr", "momentum", "weight_decay", "poly_power", "self_dice_weight", "ema_decay",
                     "token_momentum", "inconsistency"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "poly_power", "self_dice_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("momentum", "ema_decay", "token_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}"
                                  + (" (0: no weight average)" if name == "ema_decay" else ""))
        if self.empty_penalty is not None and not (math.isfinite(self.empty_penalty) and self.empty_penalty > 0):
            raise ConfigError(f"empty_penalty must be > 0 mm (or unset), got {self.empty_penalty}")
        from ..models.unet import UPSAMPLE
        if self.upsample not in UPSAMPLE:
            raise ConfigError(f"upsample must be one of {UPSAMPLE}, got {self.upsample!r}")
        from ..device import check_device_name
        check_device_name(self.device, "device")
        if not isinstance(self.device_data, bool):
            raise ConfigError(f"device_data must be true or false, got {self.device_data!r}")
        validate_scribbles(self)
        if not dataset.dense_train_labels and (method.needs_dense_labels or self.scribbles != "expert"):
            what = f"method {self.method!r}" if method.needs_dense_labels else f"--scribbles {self.scribbles}"
            raise ConfigError(f"{what} needs dense training labels, which {self.dataset} does not have: "
                              "choose a scribble-supervised method with --scribbles expert")
        for name, value in method.settings.items():
            if getattr(self, name) != value:
                raise ConfigError(f"method {self.method!r} fixes {name} = {value!r}, got {getattr(self, name)!r}: "
                                  f"leave {name} unset, or choose method 'cim' to change it")
        try:
            from ..training.methods import cim_config
            cim_config(self)
        except ValueError as exc:
            raise ConfigError(f"bad CIM setting: {exc}") from None
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """A config as stored in a run folder; fields it predates take their :data:`LEGACY` value."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config field(s) {sorted(unknown)}")
        return cls(**with_legacy(d))


#: the method settings that make a run a variant (an ablation) when they differ from TrainConfig's defaults, in
#: the order a variant's label lists them (:func:`scribcim.report.results.settings_label`,
#: :mod:`scribcim.jobs.ablation`)
METHOD_SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig) if f.metadata.get("variant"))
#: the settings that fix what a run saw: its data, split, batches and banks (:func:`scribcim.runs.load.run_meta`)
SEEN_SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig) if f.metadata.get("seen"))


def field_choices(name: str) -> tuple[Any, ...] | None:
    """The allowed values of :class:`TrainConfig` field ``name`` (None: any value of its type)."""
    choices = next(f for f in fields(TrainConfig) if f.name == name).metadata.get("choices")
    if not isinstance(choices, str):
        return choices
    if choices == "methods":
        from ..training.methods import METHODS
        return tuple(sorted(METHODS))
    if choices == "datasets":
        from ..data.datasets import DATASETS
        return tuple(sorted(DATASETS))
    if choices == "scribbles":
        from ..data.scribbles import ANNOTATORS
        return ("expert", *sorted(ANNOTATORS))
    if choices == "upsample":
        from ..models.unet import UPSAMPLE
        return tuple(UPSAMPLE)
    if choices == "cim_level":
        from ..models.unet import CHANNELS
        return tuple(range(len(CHANNELS) - 1))
    return tuple(sorted(PROFILES))


#: Fields whose value in a run stored before the field existed is not today's default.
LEGACY: dict[str, Any] = {"upsample": "transposed"}


def with_legacy(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the :data:`LEGACY` value of every field it lacks."""
    return {**{k: v for k, v in LEGACY.items() if k not in stored}, **stored}


def validate_scribbles(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for a bad ``scribbles`` / ``inconsistency`` pair."""
    from ..data.scribbles import ANNOTATORS
    if config.scribbles != "expert" and config.scribbles not in ANNOTATORS:
        raise ConfigError(f"scribbles must be 'expert' or a simulated annotator {sorted(ANNOTATORS)}, "
                          f"got {config.scribbles!r}")
    if not 0.0 <= config.inconsistency <= 1.0:
        raise ConfigError(f"inconsistency must be in [0, 1], got {config.inconsistency}")
    if config.scribbles == "expert" and config.inconsistency:
        raise ConfigError("inconsistency applies to simulated scribbles only: also pass --scribbles ANNOTATOR "
                          "(e.g. centreline)")
    from ..training.methods import get_method
    if config.scribbles != "expert" and get_method(config.method).needs_dense_labels:
        raise ConfigError(f"method {config.method!r} trains on dense labels, so --scribbles has no effect: "
                          "leave it at 'expert'")


def _as_int(text: str) -> int:
    """``text`` ("3", "3.0", "3e2") as an int; ValueError when it is not a whole number ("3.5", "inf")."""
    number = float(text)
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


def coerce(name: str, value: Any) -> Any:
    """``value`` as the type of field ``name`` (e.g. ``"1"`` from a YAML/CLI string to 1), else ConfigError."""
    hint = typing.get_type_hints(TrainConfig)[name]
    base = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
    if base not in (int, float, bool, str) or isinstance(value, base) and not (base is int and isinstance(value, bool)):
        return value
    text = str(value).strip().lower()
    try:
        if base is bool:
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text in ("true", "1", "yes")
        return _as_int(text) if base is int else base(value)
    except ValueError:
        raise ConfigError(f"{name} must be {base.__name__}, got {value!r}") from None


def make_config(profile: str = "quick", **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a named profile plus field overrides.

    Example:
        >>> make_config("paper", method="pce").max_iterations
        60000
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {sorted(PROFILES)}")
    known = {f.name for f in fields(TrainConfig)}
    bad = set(overrides) - known
    if bad:
        raise ConfigError(f"unknown config field(s) {sorted(bad)}: see `scribcim train --help`")
    given = {k: coerce(k, v) for k, v in overrides.items() if v is not None}
    from ..training.methods import get_method
    fixed = get_method(given.get("method", PROFILES[profile].get("method", TrainConfig.method))).settings
    if clash := sorted(k for k in fixed if k in given and given[k] != fixed[k]):
        raise ConfigError(f"method {given['method']!r} fixes {', '.join(f'{k} = {fixed[k]!r}' for k in clash)}: "
                          f"leave {', '.join(clash)} unset, or choose method 'cim' to change them")
    values = {**PROFILES[profile], **fixed, **given}
    return TrainConfig(profile=profile, **values).validate()
