"""Figure and report of the scribble-style simulator: styles side by side and statistics vs experts."""
from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.scribble_stats import compare_styles, stats_markdown
from ..data.scribbles import ANNOTATORS, Annotator, simulate_volume
from ..data.volumes import NUM_CLASSES, UNLABELLED, Volume, load_acdc
from .common import SCRIBBLE_CMAP, plt, save_figure

log = logging.getLogger(__name__)
#: report defaults: every ``PATIENT_STRIDE``-th ACDC patient (1, 3, 5, ...), both frames
PATIENT_STRIDE, SEED = 2, 0


def _caption(a: Annotator) -> str:
    bits = [f"w={a.width}"] + ([f"cov={a.coverage:g}"] if a.class_coverage is None else [])
    if a.style == "boundary" and a.inset != 2:
        bits.append(f"inset={a.inset}")
    if a.slices < 1:
        bits.append(f"slices={a.slices:g}")
    if a.background != 1:
        bits.append(f"bg={a.background}")
    per_class = "" if a.class_coverage is None else "\ncov " + "/".join(f"{f:.2f}" for f in a.class_coverage)
    return f"{a.name}\n({a.style}; {', '.join(bits)}){per_class}"


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
        annotators: the annotators (default: the ``default`` family of :data:`ANNOTATORS`, the committed report's).

    Returns:
        The ``stats.json`` content.
    """
    from ..provenance import data_checksums, git_state, repo_relative, versions
    from ..runs.log import write_json_if_changed

    pool = dict({k: a for k, a in ANNOTATORS.items() if a.family == "default"} if annotators is None else annotators)
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


def plot_annotator_grid(images: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                        drawn: Mapping[str, Sequence[np.ndarray]], *, row_titles: Sequence[str],
                        titles: Mapping[str, str] | None = None, crops: Sequence[tuple[slice, slice]] | None = None,
                        suptitle: str = "") -> plt.Figure:
    """Rows of slices, columns of annotators: each slice's dense label, then each annotator's scribble of it.

    Args:
        images: one 2D image per row.
        labels: the rows' 2D dense labels (first column).
        drawn: ``{annotator name: one 2D scribble per row}``, one column each.
        row_titles: one title per row (on the label panel).
        titles: column titles by annotator name (default the name).
        crops: (rows, cols) slices per row (default whole slices).
        suptitle: figure title.
    """
    from .common import draw_panel
    ncols = 1 + len(drawn)
    fig, axes = plt.subplots(len(images), ncols, figsize=(3.0 * ncols, 3.4 * len(images)), squeeze=False,
                             layout="constrained")
    for r, image in enumerate(images):
        crop = crops[r] if crops else (slice(None), slice(None))
        draw_panel(axes[r, 0], image[crop], labels[r][crop], title=f"{row_titles[r]}\ndense label", fontsize=8)
        for c, (name, scribs) in enumerate(drawn.items(), start=1):
            note = "" if (scribs[r] != UNLABELLED).any() else "\n[slice not annotated]"
            head = (titles or {}).get(name, name) if r == 0 else name
            draw_panel(axes[r, c], image[crop], scribs[r][crop], scribble=True, title=head + note, fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def render_family_figure(volumes: Sequence[Volume], base: str, out: Path, provenance: Mapping[str, Any], *,
                         seed: int = SEED, rows: int = 3,
                         annotators: Mapping[str, Annotator] | None = None) -> Path:
    """The base annotator's family (base first) drawing the same ``rows`` slices, one per volume taken evenly
    through ``volumes`` (sorted by case), saved with its provenance (plus the cases, slices and annotators)."""
    pool = dict(ANNOTATORS if annotators is None else annotators)
    fam = [pool[base]] + [a for a in pool.values() if a.family == pool[base].family and a.name != base]
    vols = sorted(volumes, key=lambda v: v.case)
    picked = [vols[int(i)] for i in np.unique(np.rint(np.linspace(0, len(vols) - 1, rows)))]
    where = [pick_slice(v) for v in picked]
    drawn = {a.name: [simulate_volume(v.label, a, seed=seed, case=v.case)[z] for v, (z, _) in zip(picked, where)]
             for a in fam}
    titles = {a.name: ("BASE " if a.name == base else "") + _caption(a) for a in fam}
    fig = plot_annotator_grid([v.image[z] for v, (z, _) in zip(picked, where)],
                              [v.label[z] for v, (z, _) in zip(picked, where)], drawn,
                              row_titles=[f"{v.case} z={z}" for v, (z, _) in zip(picked, where)], titles=titles,
                              crops=[c for _, c in where],
                              suptitle=f"family {pool[base].family!r} (base {base}), scribble seed {seed}: yellow BG, "
                                       "blue RV, green MYO, red LV; cov = stroke length kept for BG/RV/MYO/LV")
    info = {**provenance, "seed": seed, "base": base, "slices": [[v.case, z] for v, (z, _) in zip(picked, where)],
            "annotators": {a.name: dataclasses.asdict(a) for a in fam}}
    return save_figure(fig, Path(out), info)
