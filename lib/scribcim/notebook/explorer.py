"""A browser over a trained cim run (notebook 06): one static view per set of widget values.

:meth:`Explorer.render` draws the whole view (a test slice with the chosen layers, the chosen pixel, and the
top-k bank entries it matched, redrawn from their training batches), so the widget, papermill (no
frontend) and the tests all produce the same figure. The pixel is chosen with two sliders (row, col):
picking it by clicking on the image needs an extra widget package (ipympl or ipyevents), which the
project does not install.

A run in the millimetre view (``pixel_mm``) is shown in the model's window (:func:`scribcim.analysis.matching.in_view`):
slice, label, scribble, pixel and attention are all on the S x S grid the model saw. Its prediction layer is the
prediction ``evaluate`` scores (:func:`scribcim.evaluate.inference.predict_labels` on the scan's grid) mapped into
the window by the same nearest sampling (:func:`scribcim.data.frame.to_frame`), so the error map shows, pixel for
pixel, the errors that are scored. A whole-slice run is shown on the scan's own grid, as before.
"""
from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import load_volumes
from ..data.frame import Frame, to_frame
from ..data.slices import SliceSet
from ..data.volumes import Volume
from ..errors import ConfigError
from ..runs.load import load_model, median_case, run_meta
from ..evaluate.inference import predict_labels
from ..data.normalise import normalise_volumes
from ..analysis.matching import in_view, match_pixel, run_frame, slice_attention, start_pixel, training_slices
from ..provenance import git_state, repo_relative
from ..viz.common import plt, save_figure
from ..viz.matching import draw_view

log = logging.getLogger(__name__)
#: layers the view can show over the image
LAYERS = ("scribble", "prediction", "ground truth", "error map", "attention")
DEFAULT_LAYERS = ("prediction", "ground truth")


class Explorer:
    """A trained cim run, its test volumes (normalised as the run does; ``scans`` on their own grid, ``volumes``
    as shown, see the module docstring) and cached predictions.

    Args:
        run_dir: a trained cim run folder. data_root: the data root (None: ``SCRIBCIM_DATA`` or ``./data``).
        checkpoint: ``best`` or ``last``. device: where the model runs.
    """

    def __init__(self, run_dir: Path | str, *, data_root: str | Path | None = None, checkpoint: str = "best",
                 device: str = "cpu") -> None:
        self.run_dir, self.data_root, self.checkpoint, self.device = Path(run_dir), data_root, checkpoint, device
        self.meta = run_meta(self.run_dir)
        self.model, ckpt = load_model(self.run_dir, checkpoint, device)
        self.iteration = int(ckpt["iteration"])
        m = self.meta
        vols = load_volumes(m["dataset"], "test", fold=m["fold"], data_root=data_root, val_patients=m["val_patients"])
        self.scans: dict[str, Volume] = {v.case: v for v in normalise_volumes(vols, m["normalisation"])}
        self.volumes: dict[str, Volume] = {c: in_view(v, m) for c, v in self.scans.items()}
        self.frame: Frame | None = run_frame(m)
        self._pred: dict[str, np.ndarray] = {}
        self._slices: SliceSet | None = None
        log.info("explorer: %s [%s], %d test cases", self.run_dir, checkpoint, len(self.volumes))

    @property
    def cases(self) -> list[str]:
        """The run's test cases."""
        return sorted(self.volumes)

    def prediction(self, case: str) -> np.ndarray:
        """The label volume (z, y, x) the model predicts for ``case`` (as ``evaluate`` does; cached), as shown:
        a millimetre-view run's prediction on the scan's grid mapped into the window."""
        if case not in self._pred:
            scan = self.scans[case]
            if self.frame is None:
                self._pred[case] = predict_labels(self.model, scan.image, input_size=self.meta["input_size"],
                                                  device=self.device)
            else:
                pred = predict_labels(self.model, scan.image, frame=self.frame, spacing_yx=scan.spacing[1:],
                                      device=self.device)
                self._pred[case] = to_frame(pred, scan.spacing[1:], self.frame)
        return self._pred[case]

    @property
    def slices(self) -> SliceSet:
        """The run's training slices (read on first use), to redraw matched entries."""
        if self._slices is None:
            self._slices = training_slices(self.meta, self.data_root)
        return self._slices

    def default_view(self) -> dict[str, Any]:
        """Widget values to start from: the median-Dice test case (first case without a summary), its middle
        slice, and the centre of mass of its ground-truth LV."""
        try:
            case = median_case(self.run_dir, self.checkpoint)
        except ConfigError:
            case = self.cases[0]
        return self.start_of(case)

    def start_of(self, case: str) -> dict[str, Any]:
        """Widget values a case opens with: its middle slice and the centre of mass of the ground-truth LV there
        (of the heart if the slice has no LV, else the slice centre)."""
        if case not in self.volumes:
            raise ConfigError(f"no test case {case!r}: choose one of {self.cases}")
        z = self.volumes[case].num_slices // 2
        row, col = start_pixel(self.scans[case], z, self.meta)
        return {"case": case, "slice_index": z, "row": row, "col": col}

    def view(self, case: str, slice_index: int, row: int, col: int, top_k: int = 4) -> dict[str, Any]:
        """The numbers behind one view: the slice, its attention, the prediction and the pixel's match."""
        if case not in self.volumes:
            raise ConfigError(f"no test case {case!r}: choose one of {self.cases}")
        vol = self.volumes[case]
        z = min(max(int(slice_index), 0), vol.num_slices - 1)
        h, w = vol.image.shape[1:]
        pixel = (min(max(int(row), 0), h - 1), min(max(int(col), 0), w - 1))
        att = slice_attention(self.model, vol.image[z], input_size=self.meta["input_size"], device=self.device)
        return {"volume": vol, "slice_index": z, "pixel": pixel, "attention": att,
                "match": match_pixel(att, pixel, top_k), "prediction": self.prediction(case)[z]}

    def render(self, case: str | None = None, slice_index: int | None = None, *,
               layers: Sequence[str] = DEFAULT_LAYERS, attention_class: int = 3, row: int | None = None,
               col: int | None = None, top_k: int = 4) -> plt.Figure:
        """One view: the slice with ``layers`` (any of :data:`LAYERS`; "attention" is the bank attention mass on
        ``attention_class``), the pixel (row, col) and its ``top_k`` matched entries. None: :meth:`default_view`."""
        bad = set(layers) - set(LAYERS)
        if bad:
            raise ConfigError(f"unknown layer(s) {sorted(bad)}: choose from {LAYERS}")
        case = case or self.default_view()["case"]
        if case not in self.volumes:
            raise ConfigError(f"no test case {case!r}: choose one of {self.cases}")
        vol = self.volumes[case]
        z = min(max(vol.num_slices // 2 if slice_index is None else int(slice_index), 0), vol.num_slices - 1)
        if row is None or col is None:
            r0, c0 = start_pixel(self.scans[case], z, self.meta)
            row, col = (r0 if row is None else row), (c0 if col is None else col)
        v = self.view(case, z, row, col, top_k)
        slices = self.slices if any(e["source"][0] >= 0 for e in v["match"]["top_k"]) else None
        return draw_view(v, layers, attention_class, self.meta, slices)

    def provenance(self, **values: Any) -> dict[str, Any]:
        """Provenance of a saved view: code version, run, checkpoint and the widget values."""
        return {"git": git_state(Path(__file__).resolve().parent), "run_dir": repo_relative(self.run_dir),
                "checkpoint": self.checkpoint, "iteration": self.iteration, "view": values}


def show_figure(fig: plt.Figure, path: Path | str | None = None, provenance: dict | None = None) -> Path | None:
    """Display ``fig`` in the notebook, save it (PNG + ``.json`` provenance) when ``path`` is given, and close it."""
    from IPython.display import display
    display(fig)
    if path is None:
        plt.close(fig)
        return None
    return save_figure(fig, Path(path), provenance or {})


def error_output(exc: BaseException) -> dict[str, Any]:
    """An nbformat ``error`` output of ``exc`` (name, message, traceback lines), as a notebook cell shows it."""
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip().splitlines()
    return {"output_type": "error", "ename": type(exc).__name__, "evalue": str(exc), "traceback": lines}


def explorer_widget(explorer: Explorer) -> Any:
    """An ipywidgets panel over ``explorer``: case (Dropdown), slice (IntSlider), layers (Checkboxes), the
    attention class, the pixel (row and col IntSliders) and top-k; every change redraws :meth:`Explorer.render`.

    A new case starts at :meth:`Explorer.start_of` (middle slice, centre of the LV). An exception while
    redrawing replaces the view with its traceback (callbacks of widgets have no cell to show it in).
    """
    import ipywidgets as w
    start, names = explorer.default_view(), explorer.meta["class_names"]
    vol = explorer.volumes[start["case"]]
    case = w.Dropdown(options=explorer.cases, value=start["case"], description="case")
    z = w.IntSlider(value=start["slice_index"], min=0, max=vol.num_slices - 1, description="slice")
    row = w.IntSlider(value=start["row"], min=0, max=vol.image.shape[1] - 1, description="row")
    col = w.IntSlider(value=start["col"], min=0, max=vol.image.shape[2] - 1, description="col")
    cls = w.Dropdown(options=[(n, i) for i, n in enumerate(names)], value=min(3, len(names) - 1),
                     description="attention")
    top_k = w.IntSlider(value=4, min=1, max=12, description="top k")
    layers = {n: w.Checkbox(value=n in DEFAULT_LAYERS, description=n, indent=False) for n in LAYERS}
    out, busy = w.Output(), [False]

    def failed(exc: Exception) -> None:
        log.error("explorer: redrawing failed: %s: %s", type(exc).__name__, exc)
        out.outputs = (error_output(exc),)

    def draw(*_: Any) -> None:
        if busy[0]:
            return
        try:
            fig = explorer.render(case.value, z.value, layers=[n for n, b in layers.items() if b.value],
                                  attention_class=cls.value, row=row.value, col=col.value, top_k=top_k.value)
        except Exception as exc:  # noqa: BLE001 - shown in the panel, where the user looks
            failed(exc)
            return
        # set the Output widget's outputs directly rather than capturing with `with out:` (that
        # protocol hung intermittently when run headless by papermill/nbclient)
        out.outputs = ()
        out.append_display_data(fig)
        plt.close(fig)

    def new_case(_: Any) -> None:
        busy[0] = True
        try:
            v, first = explorer.volumes[case.value], explorer.start_of(case.value)
            z.max, row.max, col.max = v.num_slices - 1, v.image.shape[1] - 1, v.image.shape[2] - 1
            z.value, row.value, col.value = first["slice_index"], first["row"], first["col"]
        except Exception as exc:  # noqa: BLE001
            failed(exc)
            return
        finally:
            busy[0] = False
        draw()

    case.observe(new_case, "value")
    for control in (z, row, col, cls, top_k, *layers.values()):
        control.observe(draw, "value")
    draw()
    return w.VBox([w.HBox([case, z, cls, top_k]), w.HBox(list(layers.values())), w.HBox([row, col]), out])
