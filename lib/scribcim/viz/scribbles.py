"""Figure and report of the scribble-style simulator: styles side by side and statistics vs experts."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..data.scribble_stats import compare_styles, stats_markdown
from ..data.scribbles import ANNOTATORS, Annotator, simulate_volume
from ..data.volumes import NUM_CLASSES, UNLABELLED, Volume, load_acdc
from .common import SCRIBBLE_CMAP, plt, save_figure

log = logging.getLogger(__name__)
#: report defaults: every ``PATIENT_STRIDE``-th ACDC patient (1, 3, 5, ...), both frames
PATIENT_STRIDE, SEED = 2, 0


def _caption(a: Annotator) -> str:
    bits = [f"w={a.width}", f"cov={a.coverage:g}"]
    if a.slices < 1:
        bits.append(f"slices={a.slices:g}")
    if a.background != 1:
        bits.append(f"bg={a.background}")
    return f"{a.name}\n({a.style}; {', '.join(bits)})"


def plot_scribble_styles(image: np.ndarray, expert: np.ndarray, simulated: Mapping[str, np.ndarray], *,
                         titles: Mapping[str, str] | None = None, crop: tuple[slice, slice] | None = None,
                         ncols: int = 4, suptitle: str = "") -> plt.Figure:
    """One slice drawn by the expert and by each simulated style, as scribble overlays.

    Args:
        image: 2D image.
        expert: 2D expert scribble (4 = unlabelled).
        simulated: ``{name: 2D scribble}``, one panel each.
        titles: panel titles by name (default the name).
        crop: (rows, cols) slices to show (default the whole slice).
        ncols: panels per row.
        suptitle: figure title.

    Returns:
        The figure.
    """
    panels = {"expert": expert, **simulated}
    titles = {"expert": "expert (Valvano et al.)", **(titles or {})}
    crop = crop or (slice(None), slice(None))
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 3.6 * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, scrib) in zip(axes.ravel(), panels.items()):
        ax.imshow(image[crop], cmap="gray")
        ax.imshow(scrib[crop], cmap=SCRIBBLE_CMAP, vmin=0, vmax=UNLABELLED, interpolation="nearest")
        note = "" if (scrib != UNLABELLED).any() else "\n[slice not annotated]"
        ax.set_title(titles.get(name, name) + note, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def pick_slice(volume: Volume, margin: int = 25) -> tuple[int, tuple[slice, slice]]:
    """The middle slice among those holding all three structures, and a crop around the heart."""
    lab = volume.label
    full = [z for z in range(lab.shape[0]) if all((lab[z] == c).any() for c in range(1, NUM_CLASSES))]
    z = full[len(full) // 2] if full else lab.shape[0] // 2
    ys, xs = np.nonzero(lab[z] > 0) if (lab[z] > 0).any() else np.nonzero(np.ones_like(lab[z]))
    h, w = lab[z].shape
    return int(z), (slice(max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, h)),
                    slice(max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, w)))


def render_scribble_report(root: Path | str, out_results: Path, out_figure: Path, *, seed: int = SEED,
                           patient_stride: int = PATIENT_STRIDE,
                           annotators: Mapping[str, Annotator] | None = None) -> dict[str, Any]:
    """Simulate every annotator on ACDC, write the statistics table and the styles figure.

    Args:
        root: data root holding ``ACDC/``.
        out_results: folder for ``stats.json`` and ``stats.md``.
        out_figure: PNG path of the styles figure (a ``.json`` provenance file goes beside it).
        seed: simulation seed.
        patient_stride: use patients 1, 1 + stride, ... (deterministic subsample, both frames).
        annotators: the annotators (default :data:`ANNOTATORS`).

    Returns:
        The ``stats.json`` content.
    """
    from ..provenance import data_checksums, git_state, repo_relative, versions
    from ..runs.log import write_json_if_changed

    pool = dict(ANNOTATORS if annotators is None else annotators)
    patients = list(range(1, 101, patient_stride))
    vols = load_acdc(root, patients=patients)
    log.info("scribble statistics on %d ACDC volumes (%d patients, stride %d)",
             len(vols), len(patients), patient_stride)
    rows = compare_styles(vols, pool, seed=seed)
    subset = (f"{len(vols)} volumes of ACDC patients 1, {1 + patient_stride}, ..., {patients[-1]} "
              f"(patient stride {patient_stride}, both frames, all {sum(v.num_slices for v in vols)} slices)")
    prov = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "git": git_state(), "command": " ".join(sys.argv), "versions": versions(),
            "data": data_checksums("acdc"), "function": f"{__name__}.render_scribble_report"}
    params = {"seed": seed, "patient_stride": patient_stride, "subset": subset,
              "cases": [v.case for v in vols], "annotators": {k: dataclasses.asdict(a) for k, a in pool.items()}}
    report = {"provenance": prov, "parameters": params, "rows": rows}
    out_results = Path(out_results)
    out_results.mkdir(parents=True, exist_ok=True)
    changed = write_json_if_changed(out_results / "stats.json", report)  # unchanged numbers: both files left alone
    md = (f"# Simulated vs expert scribbles on ACDC\n\nData: {subset}. Simulation seed {seed}. "
          f"Commit {prov['git']['commit']} (dirty: {prov['git']['dirty']}). Regenerate: "
          f"`scribcim scribbles --data ROOT`.\n\nBG = background (its distance is to the heart), "
          "RV, MYO, LV. Simulated strokes are drawn from the dense label, so off-label is 0 by "
          "construction; the expert's off-label pixels are disagreements with the dense label.\n\n"
          + stats_markdown(rows))
    if changed or not (out_results / "stats.md").is_file():
        (out_results / "stats.md").write_text(md)

    vol = vols[0]
    z, crop = pick_slice(vol)
    sims = {n: simulate_volume(vol.label, a, seed=seed, case=vol.case)[z] for n, a in pool.items()}
    fig = plot_scribble_styles(vol.image[z], vol.scribble[z], sims, crop=crop,
                               titles={n: _caption(a) for n, a in pool.items()},
                               suptitle=f"{vol.case}, slice {z}: expert vs simulated scribbles "
                                        "(yellow BG, blue RV, green MYO, red LV)")
    save_figure(fig, Path(out_figure), {**prov, "case": vol.case, "slice": z, "seed": seed,
                                        "crop": [[crop[0].start, crop[0].stop], [crop[1].start, crop[1].stop]],
                                        "annotators": params["annotators"],
                                        "stats": repo_relative(out_results / "stats.json")})
    log.info("wrote %s, %s and %s", out_results / "stats.json", out_results / "stats.md", out_figure)
    return report
