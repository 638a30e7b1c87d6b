"""The one configuration object of a run, and its named profiles.

``paper`` is the released protocol (256x256, batch 6, 60k iterations, SGD 0.01 with poly
0.9 decay, momentum 0.9, weight decay 1e-4, validation every 200 iterations). ``cpu-lr01`` and
``cpu-lr03`` are the CPU profiles of the seed-grid comparison (128x128, CIM matching at 1/8 with
majority sampling so that its banks stay class-pure, a weight average; one run fits 25 minutes of
one thread), told apart by their learning rate and chosen between on validation patients over
three seeds. ``quick`` is the earlier single-seed CPU profile (its committed results predate the
decoder fix). ``smoke`` is for tests and CI notebooks.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from .errors import ConfigError

_CPU: dict[str, Any] = dict(input_size=128, batch_size=8, max_iterations=1500, val_every=100, checkpoint_every=100,
                            channels_last=True, ema_decay=0.99, cim_level=1, sampling="majority")
PROFILES: dict[str, dict[str, Any]] = {
    "paper": dict(input_size=256, batch_size=6, max_iterations=60_000, lr=0.01, val_every=200,
                  checkpoint_every=1000),
    # chosen on fold-1 validation patients: see results/acdc/quick/profile_selection.md
    "quick": dict(input_size=128, batch_size=8, max_iterations=1500, lr=0.03, val_every=100,
                  checkpoint_every=100, channels_last=True),
    # CPU candidates of "a comparison that stands" (one thread, <= 25 min a run): 1/8-level matching
    # with majority sampling (class-pure banks at 128x128), a weight average, lr 0.01 or 0.03;
    # chosen on fold-1 validation patients over 3 seeds: see results/acdc/profile_selection.md
    "cpu-lr01": dict(_CPU, lr=0.01),
    "cpu-lr03": dict(_CPU, lr=0.03),
    # the GPU rows of the comparison (packed GPU windows, scribcim.packed): the paper's input size and grid
    # (1/16 of 256) with majority sampling, 10k iterations, a weight average; data resident on the device
    "gpu10k": dict(input_size=256, batch_size=6, max_iterations=10_000, lr=0.01, val_every=500,
                   checkpoint_every=500, ema_decay=0.999, sampling="majority", device="cuda", bf16=True,
                   channels_last=True, device_data=True),
    "smoke": dict(input_size=64, batch_size=4, max_iterations=4, lr=0.01, val_every=2,
                  checkpoint_every=2, log_every=1),
}


@dataclass
class TrainConfig:
    """Everything a run depends on. Every field can be overridden (CLI: ``--field-name``)."""

    dataset: str = "acdc"
    method: str = "cim"
    fold: int = 1
    profile: str = "quick"
    seed: int = 2022
    # where things live
    data_root: str | None = None
    runs_root: str = "runs"
    results_root: str = "results"
    run_dir: str | None = None
    # optimisation
    input_size: int = 256
    batch_size: int = 6
    max_iterations: int = 60_000
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    # bookkeeping
    val_every: int = 200
    checkpoint_every: int = 1000
    log_every: int = 20
    val_patients: int | None = None
    stop_after: int | None = None
    resume: bool = False
    progress: bool = True
    # exponential moving average of the weights (0: off); validation and checkpoints' eval weights use it
    ema_decay: float = 0.0
    # hardware
    device: str = "cpu"
    bf16: bool = False
    channels_last: bool = False
    deterministic: bool = False
    num_threads: int = 0
    # keep the training slices on the device and augment there (scribcim.data.device_batches);
    # other batches than make_batch's (torch's random stream, resize before augmentation)
    device_data: bool = False
    # network: "bilinear" up-sampling (1x1 conv + bilinear x2, as released) or "transposed" (2x2 conv)
    upsample: str = "bilinear"
    # method
    num_classes: int = 4
    self_dice_weight: float = 0.5
    bank_size: int = 1000
    token_momentum: float = 0.99
    use_banks: bool = True
    use_tokens: bool = True
    matching: str = "soft"
    faithful: bool = False
    token_source: str = "pixel"
    cim_level: int = 0
    sampling: str = "any"
    # training scribbles: "expert" or a simulated annotator (scribcim.data.scribbles.ANNOTATORS)
    scribbles: str = "expert"
    inconsistency: float = 0.0
    scribble_seed: int = 0
    # evaluation
    empty_penalty: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "TrainConfig":
        """Raise :class:`ConfigError` for a bad value; return self."""
        from .methods import get_method
        get_method(self.method)
        if self.input_size % 16 or self.input_size < 16:
            raise ConfigError(f"input_size must be a positive multiple of 16, got {self.input_size}")
        for name in ("batch_size", "max_iterations", "val_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1) (0: no weight average), got {self.ema_decay}")
        from .models.unet import UPSAMPLE
        if self.upsample not in UPSAMPLE:
            raise ConfigError(f"upsample must be one of {UPSAMPLE}, got {self.upsample!r}")
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be cpu or cuda[:N], got {self.device!r}")
        if not isinstance(self.device_data, bool):
            raise ConfigError(f"device_data must be true or false, got {self.device_data!r}")
        validate_scribbles(self)
        try:
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


#: Fields whose value in a run stored before the field existed is not today's default.
LEGACY: dict[str, Any] = {"upsample": "transposed"}


def with_legacy(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with the :data:`LEGACY` value of every field it lacks."""
    return {**{k: v for k, v in LEGACY.items() if k not in stored}, **stored}


def cim_config(config: TrainConfig) -> Any:
    """The :class:`scribcim.models.CIMConfig` of a run (ValueError for a bad combination)."""
    from .models import CIMConfig
    return CIMConfig(bank_size=config.bank_size, momentum=config.token_momentum, use_banks=config.use_banks,
                     use_tokens=config.use_tokens, matching=config.matching, faithful=config.faithful,
                     token_source=config.token_source, level=config.cim_level, sampling=config.sampling)


def validate_scribbles(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for a bad ``scribbles`` / ``inconsistency`` pair."""
    from .data.scribbles import ANNOTATORS
    if config.scribbles != "expert" and config.scribbles not in ANNOTATORS:
        raise ConfigError(f"scribbles must be 'expert' or a simulated annotator {sorted(ANNOTATORS)}, "
                          f"got {config.scribbles!r}")
    if not 0.0 <= config.inconsistency <= 1.0:
        raise ConfigError(f"inconsistency must be in [0, 1], got {config.inconsistency}")
    if config.scribbles == "expert" and config.inconsistency:
        raise ConfigError("inconsistency applies to simulated scribbles only: also pass --scribbles ANNOTATOR "
                          "(e.g. centreline)")
    from .methods import get_method
    if config.scribbles != "expert" and get_method(config.method).needs_dense_labels:
        raise ConfigError(f"method {config.method!r} trains on dense labels, so --scribbles has no effect: "
                          "leave it at 'expert'")


def scribble_variant(config: TrainConfig) -> str | None:
    """None for expert scribbles, else the folder name of the simulated set, e.g. ``sim-centreline-inc0.50-seed0``."""
    if config.scribbles == "expert":
        return None
    return f"sim-{config.scribbles}-inc{config.inconsistency:.2f}-seed{config.scribble_seed}"


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
        if base is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return base(float(text)) if base is int else base(value)
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
    values = {**PROFILES[profile], **{k: coerce(k, v) for k, v in overrides.items() if v is not None}}
    return TrainConfig(profile=profile, **values).validate()
