"""The named profiles: the base values of a run that its options override.

``paper``: the released protocol (256x256, batch 6, 60k iterations, SGD 0.01, poly 0.9, momentum 0.9, weight
decay 1e-4). ``cpu-lr01``/``cpu-lr03``: the CPU profiles of the seed grid (128x128, 1/8 matching with majority
sampling, a weight average, one thread), chosen between on validation. ``cpu-mm200``/``cpu-mm175``: ``cpu-lr03``
in the millimetre view (``pixel_mm``, :mod:`scribcim.data.frame`), chosen among with ``cpu-lr03`` as the
control; ``cpu-mm175-tables``: ``cpu-mm175``'s settings for the batch of the paper's tables;
``cpu-mm175-bf16``/``cpu-mm175-bf16-6k``: ``cpu-mm175`` in bf16 at 1500 and 6000 iterations; ``gpu10k-mm``: ``gpu10k``'s twin. ``quick``: the earlier single-seed CPU profile. ``smoke``: tests.
"""
from __future__ import annotations

from typing import Any

# one thread: the thread count changes floating-point sums, so it is part of what a seed names (the grid ran so)
_CPU: dict[str, Any] = dict(input_size=128, batch_size=8, max_iterations=1500, val_every=100, checkpoint_every=100,
                            channels_last=True, ema_decay=0.99, cim_level=1, sampling="majority", num_threads=1)
_GPU10K: dict[str, Any] = dict(input_size=256, batch_size=6, max_iterations=10_000, lr=0.01, val_every=500,
                               checkpoint_every=500, ema_decay=0.999, sampling="majority", device="cuda", bf16=True,
                               channels_last=True, device_data=True)
PROFILES: dict[str, dict[str, Any]] = {
    "paper": dict(input_size=256, batch_size=6, max_iterations=60_000, lr=0.01, val_every=200,
                  checkpoint_every=1000),
    # chosen on fold-1 validation patients: see results/acdc/quick/profile_selection.md
    "quick": dict(input_size=128, batch_size=8, max_iterations=1500, lr=0.03, val_every=100,
                  checkpoint_every=100, channels_last=True),
    # CPU candidates of "a comparison that stands", chosen on validation: results/acdc/profile_selection.md
    "cpu-lr01": dict(_CPU, lr=0.01),
    "cpu-lr03": dict(_CPU, lr=0.03),
    # cpu-lr03 in the millimetre view, windows of 256 / 224 mm (results/acdc/window_coverage.md); geometry is the
    # one change against the cpu-lr03 control (1/8 matching: the purest level, results/acdc/bank_purity_survey.md)
    "cpu-mm200": dict(_CPU, lr=0.03, pixel_mm=2.0),
    "cpu-mm175": dict(_CPU, lr=0.03, pixel_mm=1.75),
    # the paper's tables (ablations, cim_paper, MSCMR baselines): cpu-mm175's settings in a folder of their own, so
    # that each row pairs by seed with a cim and pce_selfdice of the same batch (one commit, one CPU kind); the
    # cpu-mm175 grid was trained at another commit on another CPU kind, whose float sums differ (a seed's run too)
    "cpu-mm175-tables": dict(_CPU, lr=0.03, pixel_mm=1.75),
    # the budget study (results/bench/: bf16 autocast takes about 0.6x the time of fp32 a step on a CPU with native
    # bf16): cpu-mm175 in bf16 at 1500 iterations (its twin: the budgets differ in one thing) and at 6000 (poly
    # decay over the whole budget, validation and checkpoint every 200). The precision is the profile's on every
    # machine: a CPU without native bf16 emulates it (slower; the run warns, its provenance says native_bf16 false)
    "cpu-mm175-bf16": dict(_CPU, lr=0.03, pixel_mm=1.75, bf16=True),
    "cpu-mm175-bf16-6k": dict(_CPU, lr=0.03, pixel_mm=1.75, bf16=True, max_iterations=6000, val_every=200,
                              checkpoint_every=200),
    # the GPU rows (packed GPU windows, scribcim.training.packed): paper size and grid, majority sampling,
    # 10k iterations
    "gpu10k": _GPU10K,
    # gpu10k in the millimetre view: 256 px at 0.875 mm (cpu-mm175's 224 mm window and 14 mm matching cells)
    "gpu10k-mm": dict(_GPU10K, pixel_mm=0.875),
    "smoke": dict(input_size=64, batch_size=4, max_iterations=4, lr=0.01, val_every=2, checkpoint_every=2, log_every=1),
}
