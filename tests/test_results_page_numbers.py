"""One number, one source, for the prose of docs/results.md: every figure that its sections on `make reproduce`, the
`cpu-mm175` comparison grid, the choice of the millimetre geometry, the whole-slice `cpu-lr03` grid and the earlier
`quick` runs state in a sentence (and in the hand-typed tables of those sections, outside any ``<!-- kind key -->``
block) is recomputed from the committed record it comes from: the runs' summaries, the grid and selection records,
the bank purity survey, the timing files. Figures checked elsewhere are left to their tests: the `cpu-lr03` HD95 and
sd ranges, island distances, the climbing claim and the 0.02 target (tests/test_docs.py), the far-field paragraph
(tests/test_readme_numbers.py). The section on the budget study and the paper's tables is not checked here (its runs
are still being trained)."""
from __future__ import annotations

import re
import statistics
from datetime import datetime
from typing import Iterable

import pandas as pd
from scribcim.report.comparison import profile_summaries
from test_readme_numbers import ROOT, page_text, record_of, span

PAGE = "docs/results.md"
CLASSES = ("RV", "MYO", "LV")
# A resumed run's `train_result` times its last session only: a run counts as never interrupted when its
# evaluation was written within this many seconds of the end of its timed training (evaluation takes 1-3 minutes;
# the resumed runs of the grid lie 17-42 minutes beyond it).
EVALUATION_S = 600


def summaries(profile: str, dataset: str | None = None, method: str | None = None) -> list[dict]:
    """The committed summaries of a profile's fold-1 runs on expert scribbles (:func:`profile_summaries`), of one
    dataset and method where named."""
    return [s for s in profile_summaries(ROOT / "results", profile, 1)
            if dataset in (None, s["dataset"]) and method in (None, s["method"])]


def seeds(values: Iterable[int]) -> str:
    """``2022-2026`` of consecutive seeds."""
    values = sorted(set(values))
    assert values == list(range(values[0], values[-1] + 1))
    return f"{values[0]}-{values[-1]}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f}"


def never_interrupted(summary: dict) -> bool:
    prov = summary["provenance"]
    elapsed = datetime.fromisoformat(prov["created"]) - datetime.fromisoformat(prov["train"]["created"])
    return elapsed.total_seconds() - prov["train_result"]["wall_time_s"] < EVALUATION_S


def volumes_of(runs: list[dict]) -> dict[str, int]:
    """The number of test volumes each dataset's runs were scored on (one number a dataset)."""
    counts = {ds: {s["checkpoints"]["best"]["num_cases"] for s in runs if s["dataset"] == ds}
              for ds in ("acdc", "mscmr")}
    assert all(len(c) == 1 for c in counts.values())
    return {ds: c.pop() for ds, c in counts.items()}


def mean_rows(record: dict) -> dict:
    return {(t["dataset"], t["method"]): t for t in record["table"] if t["structure"] == "mean"}


def test_reproduce_paragraphs_match_the_grid_runs() -> None:
    """`make reproduce`: seed 2022 and the range of the committed `cpu-mm175` runs (cpu-mm175_seeds_runs*.csv,
    summaries), and the `cpu-lr03` rerun's committed side (cpu-lr03_seeds_runs.csv, summaries)."""
    text = page_text(PAGE)
    runs = {kind: pd.read_csv(ROOT / f"results/tables/cpu-mm175_seeds_runs{kind}.csv") for kind in ("", "_post")}
    runs = {kind: r[(r.dataset == "acdc") & (r.structure == "mean")].set_index(["method", "seed"])
            for kind, r in runs.items()}
    raw, post = runs[""], runs["_post"]

    def seed2022(m: str) -> str:
        return (f"`{m}` {raw.dice[m, 2022]:.3f} raw, {post.dice[m, 2022]:.3f} post-processed (HD95 "
                f"{raw.hd95[m, 2022]:.1f} / {post.hd95[m, 2022]:.1f} mm)")
    assert f"Their seed 2022 gave {seed2022('cim')} and {seed2022('pce')};" in text
    ranges = {(m, kind): span(r.dice[m]) for m in ("cim", "pce") for kind, r in (("raw", raw), ("post", post))}
    assert set(raw.loc["cim"].index) == {2022, 2023, 2024, 2025, 2026}
    assert (f"the five seeds {seeds(raw.loc['cim'].index)} span `cim` {ranges['cim', 'raw']} raw and "
            f"{ranges['cim', 'post']} post-processed, `pce` {ranges['pce', 'raw']} raw and {ranges['pce', 'post']} "
            "post-processed (test Dice, best on validation)") in text
    assert (f"against the committed seed 2022's {raw.dice['pce', 2022]:.3f} and {post.dice['pce', 2022]:.3f} "
            f"(committed range {ranges['pce', 'raw']} raw, {ranges['pce', 'post']} post:") in text
    assert (f"against {raw.dice['cim', 2022]:.3f} and {post.dice['cim', 2022]:.3f} (range {ranges['cim', 'raw']} "
            f"raw: inside; {ranges['cim', 'post']} post:") in text

    grid = summaries("cpu-mm175")
    machines = {tuple(s["provenance"]["train"]["device"][k] for k in ("cpu_model", "cpu_count", "torch_threads"))
                for s in grid}
    assert machines == {("Intel(R) Xeon(R) Processor", 2, 1)}
    commits = {s["provenance"]["train"]["git"]["commit"][:7] for s in grid}
    assert len(commits) == 1
    assert (f"The committed `cpu-mm175` runs (trained at {commits.pop()}) record `Intel(R) Xeon(R) Processor`, 2 "
            "cores, one thread.") in text
    cim = next(s for s in grid if (s["dataset"], s["method"], s["seed"]) == ("acdc", "cim", 2022))
    cases = sum(len(c["cases"]) + len(c["postprocessed"]["cases"]) for c in cim["checkpoints"].values())
    assert (f"(all {cases} case records, raw and post-processed, best and last checkpoints), to the committed grid run "
            f"of seed 2022, whose provenance records `{cim['provenance']['device']['cpu_model']}`") in text
    assert f"on the {cim['checkpoints']['best']['num_cases']} test volumes, raw and post-processed" in text

    lr03 = summaries("cpu-lr03", "acdc")
    assert {s["provenance"]["device"]["cpu_model"] for s in lr03} == {"AMD EPYC"}
    assert "(the text of the time named it AMD EPYC, the model the `cpu-lr03` runs below record)" in text
    assert {s["provenance"]["device"]["torch_threads"] for s in lr03} == {1}
    pair = [s for s in lr03 if s["seed"] == 2022 and s["method"] in ("pce", "cim")]
    values = {len([v for c in s["checkpoints"].values() for case in c["cases"] for k in CLASSES
                   for v in (case["classes"][k]["dice"], case["classes"][k]["hd95"], case["classes"][k]["asd"])])
              for s in pair}
    assert len(pair) == 2 and len(values) == 1
    trained = {s["provenance"]["train"]["git"]["commit"][:7] for s in lr03}
    assert len(trained) == 1
    lr03_runs = pd.read_csv(ROOT / "results/tables/cpu-lr03_seeds_runs.csv")
    lr03_runs = lr03_runs[(lr03_runs.dataset == "acdc") & (lr03_runs.structure == "mean")].set_index(["method", "seed"])
    assert (f"and ASD of both runs ({values.pop()} values each, best and last checkpoints) equalled the committed grid "
            f"runs trained at {trained.pop()}: test Dice of the best-on-validation checkpoint `pce` "
            f"{lr03_runs.dice['pce', 2022]:.3f}, `cim` {lr03_runs.dice['cim', 2022]:.3f}.") in text


def test_grid_set_up_matches_the_grid_summaries() -> None:
    """The `cpu-mm175` grid: runs, commit, CPU, geometry, seeds and test volumes (cpu-mm175_seeds.json, summaries),
    the training wall times (the summaries' `train_result`) and the far-field runs (far_field*.json)."""
    text, record, grid = page_text(PAGE), record_of("results/tables/cpu-mm175_seeds.json"), summaries("cpu-mm175")
    rows = mean_rows(record)
    assert len(grid) == sum(t["runs"] for t in rows.values())
    assert {s["provenance"]["train"]["device"]["cpu_model"] for s in grid} == {"Intel(R) Xeon(R) Processor"}
    geometry = {(s["geometry"]["pixel_mm"], s["geometry"]["input_size"], s["geometry"]["window_mm"]) for s in grid}
    assert len(geometry) == 1
    mm, px, window = geometry.pop()
    assert (f"How it was measured: {len(grid)} runs trained at commit {record['training_commits'][0][:7]} from a "
            "separate clone") in text
    assert (f"records `Intel(R) Xeon(R) Processor` where its run started), profile `cpu-mm175` ({mm} mm per model "
            f"pixel, a {px} px = {window:.0f} mm window centred on each slice;") in text
    at = {key: seeds(int(s) for s in t["seeds"].split(",")) for key, t in rows.items()}
    assert set(at) == {("acdc", m) for m in ("pce", "pce_selfdice", "dmpls", "cim", "pce_dice", "full")} | {
        ("mscmr", "pce_selfdice"), ("mscmr", "cim")}
    assert len({at["acdc", m] for m in ("pce", "pce_selfdice", "dmpls", "cim")}) == 1
    assert at["acdc", "pce_dice"] == at["acdc", "full"] == at["mscmr", "pce_selfdice"] == at["mscmr", "cim"]
    assert (f"ACDC: `pce`, `pce_selfdice`, `dmpls`, `cim` at seeds {at['acdc', 'cim']}, `pce_dice` and `full` at "
            f"{at['acdc', 'full']}; MSCMR: `pce_selfdice` and `cim` at {at['mscmr', 'cim']}.") in text
    volumes = volumes_of(grid)
    assert f"(ACDC {volumes['acdc']}, MSCMR {volumes['mscmr']})" in text

    steady = [s for s in grid if never_interrupted(s)]
    assert 0 < len(grid) - len(steady) <= 4
    wall = {m: [s["provenance"]["train_result"]["wall_time_s"] for s in steady
                if (s["dataset"], s["method"]) == ("acdc", m)] for m in ("pce", "pce_selfdice", "dmpls", "cim")}
    median = ", ".join(f"`{m}` {minutes(statistics.median(w))} min" for m, w in wall.items())
    slowest = max(steady, key=lambda s: s["provenance"]["train_result"]["wall_time_s"])
    assert (f"median {median} on ACDC; the slowest, a `{slowest['method']}` run, "
            f"{minutes(slowest['provenance']['train_result']['wall_time_s'])} min.") in text

    far = record_of("results/tables/acdc_cpu-mm175_far_field.json")
    assert f"at a raw HD95 of {far['threshold_mm']:.0f} mm" in text
    command = record_of("results/acdc/cpu-mm175/far_field_islands.json")["provenance"]["command"]
    island_runs = re.findall(r"runs/acdc/cpu-mm175/(\w+)/fold1/seed(\d+)", command)
    methods = ("pce", "pce_selfdice", "dmpls", "cim")
    assert {m for m, _ in island_runs} == set(methods) and len(set(island_runs)) == len(island_runs)
    assert (f"with the grid's scribble runs ({len(island_runs)} runs: "
            f"{', '.join(f'`{m}`' for m in methods)}, seeds {seeds(int(s) for _, s in island_runs)})") in text


def test_geometry_choice_matches_the_selection_record() -> None:
    """How the millimetre geometry was chosen: table, criterion, spreads and wall times
    (results/acdc/profile_selection_geometry.json), bank purity (bank_purity_survey.json, the `cim` summaries)."""
    text, record = page_text(PAGE), record_of("results/acdc/profile_selection_geometry.json")
    runs = pd.DataFrame(record["runs"])
    assert f"last-iteration validation Dice of the weight average; seeds {seeds(runs.seed)};" in text
    stats = runs.groupby(["profile", "method"]).agg(["mean", "std"])
    label = {"cpu-lr03": "`cpu-lr03` (control) | whole slice, 128 px",
             "cpu-mm200": "`cpu-mm200` | 2.0 mm, 256 mm window", "cpu-mm175": "`cpu-mm175` | 1.75 mm, 224 mm window"}
    for (profile, method), r in stats.iterrows():
        assert (f"| {label[profile]} | `{method}` | {r.val_last['mean']:.3f} ± {r.val_last['std']:.3f} | "
                f"{r.val_best['mean']:.3f} ± {r.val_best['std']:.3f} | {r.wall_s['mean']:.0f} |") in text
    crit = {c["profile"]: c for c in record["criterion"]}
    order = [c["profile"] for c in record["criterion"]]
    assert order[0] == record["chosen"] == "cpu-mm175"
    criteria = ", ".join(f"`{p}` {crit[p]['criterion']:.3f}" for p in order)
    sds = ", ".join(f"{crit[p]['sd']:.3f}" for p in order)
    assert f"Criterion: {criteria}; mean across-seed sd {sds}." in text
    last = stats.val_last["mean"]
    lift = [last[p, m] - last["cpu-lr03", m] for p in ("cpu-mm175", "cpu-mm200") for m in ("cim", "pce_selfdice")]
    assert f"The geometry alone lifts validation Dice by {span(lift, 1)}" in text
    fold = sorted(round(crit["cpu-lr03"]["sd"] / crit[p]["sd"]) for p in ("cpu-mm200", "cpu-mm175"))
    assert f"shrinks the across-seed spread {fold[0]}-{fold[1]} times" in text
    wall = stats.wall_s["mean"]
    mm = [w for (p, _), w in wall.items() if p != "cpu-lr03"]
    assert wall.idxmax() == ("cpu-lr03", "cim")
    assert (f"{span((w / 60 for w in mm), 0)} min a run in the millimetre view, at most {minutes(wall.max())} min "
            "(the control's `cim`)") in text

    survey = {r["setting"]: r for r in record_of("results/acdc/bank_purity_survey.json")["rows"]}

    def purity(setting: str) -> str:
        return " / ".join(f"{survey[setting]['purity'][k]:.2f}" for k in CLASSES)
    chosen, paper = survey["1.75 mm x 128 px, 1/8, majority"], "1.75 mm x 128 px, 1/16, majority"
    assert not any(chosen["shared"].values()) and not any(survey[paper]["shared"].values())
    assert (f"(training batches: RV / MYO / LV {purity('1.75 mm x 128 px, 1/8, majority')} at 1.75 mm, none shared; "
            f"the paper's 1/16 level also qualifies now, {purity(paper)}, with a quarter") in text
    cim = [s for s in summaries("cpu-mm175", "acdc", "cim") if s["seed"] in set(runs.seed)]
    best = [s["checkpoints"]["best"] for s in cim]
    assert not any(v for b in best for v in b["bank_shared"].values())
    assert (f"in the {['one', 'two', 'three'][len(cim) - 1]} trained `cpu-mm175` `cim` checkpoints it is "
            f"{' / '.join(span((b['bank_purity'][k] for b in best), 2) for k in CLASSES)} with no cell shared") in text
    control = runs[runs.profile == "cpu-lr03"].set_index(["method", "seed"]).wall_s
    grid = {(s["method"], s["seed"]): s["provenance"]["train_result"]["wall_time_s"]
            for s in summaries("cpu-lr03", "acdc")}
    assert all(abs(w - grid[key]) < 1e-3 for key, w in control.items())
    mm200 = {s["provenance"]["train"]["git"]["commit"][:7] for s in summaries("cpu-mm200", "acdc")}
    mm175 = {s["provenance"]["train"]["git"]["commit"][:7] for s in summaries("cpu-mm175", "acdc")}
    assert len(mm200) == len(mm175) == 1
    assert (f"the control's runs are the committed `cpu-lr03` grid runs; the others trained at {mm200.pop()}; the "
            f"comparison grid retrained the `cpu-mm175` runs at {mm175.pop()} with every metric") in text


def test_cpu_lr03_grid_matches_its_record() -> None:
    """The whole-slice grid: set-up, tables, per-seed Dice, paired differences against the sds, bank purity
    (results/tables/cpu-lr03_seeds.json, cpu-lr03_seeds_runs.csv, bank_purity_survey.json)."""
    text, record, grid = page_text(PAGE), record_of("results/tables/cpu-lr03_seeds.json"), summaries("cpu-lr03")
    rows, classes = mean_rows(record), {(t["dataset"], t["method"], t["structure"]): t for t in record["table"]}
    diff = {(d["dataset"], d["b"]): d for d in record["differences"] if d["metric"] == "dice"}
    sel, sel_m = diff["acdc", "pce_selfdice"], diff["mscmr", "pce_selfdice"]
    pce, dmpls = diff["acdc", "pce"], diff["acdc", "dmpls"]
    assert sel["a_better"] == sel["pairs"] and sel_m["a_better"] == sel_m["pairs"]
    assert (f"by {sel['mean']:+.3f} on ACDC ({sel['pairs']} seeds) and {sel_m['mean']:+.3f} on MSCMR ({sel_m['pairs']} "
            f"seeds) on average") in text and sel["ci95"][0] < 0 < sel["ci95"][1] and sel_m["ci95"][0] < 0
    assert dmpls["a_better"] == 0 and dmpls["pairs"] == 5 and "`cim` is behind the `dmpls` baseline on all five" in text
    assert len(grid) == sum(t["runs"] for t in rows.values())
    assert {s["provenance"]["train"]["git"]["commit"] for s in grid} == set(record["training_commits"])
    assert f"How it was measured: {len(grid)} runs, all trained at commit {record['training_commits'][0][:7]}" in text
    at = {key: seeds(int(s) for s in t["seeds"].split(",")) for key, t in rows.items()}
    assert (f"ACDC: `pce`, `pce_selfdice`, `dmpls`, `cim` at seeds {at['acdc', 'cim']}, `pce_dice` and `full` at "
            f"{at['acdc', 'full']}; MSCMR: `pce_selfdice` and `cim` at {at['mscmr', 'cim']}.") in text
    volumes = volumes_of(grid)
    assert f"(ACDC {volumes['acdc']}, MSCMR {volumes['mscmr']}; per run in" in text

    def cell(t: dict, metric: str = "dice", digits: int = 3) -> str:
        return f"{t[f'{metric}_mean']:.{digits}f} ± {t[f'{metric}_std']:.{digits}f}"
    for (ds, m), t in rows.items():
        name = "`full` (dense labels)" if m == "full" else f"`{m}`"
        per_class = " | ".join(cell(classes[ds, m, k]) for k in CLASSES)
        assert f"| {name} | {t['runs']} | {per_class} | {cell(t)} | {cell(t, 'hd95', 1)} |" in text, (ds, m)
    for (ds, b), d in diff.items():
        lo, hi = d["ci95"]
        tail = (f"| {d['pairs']} | {d['mean']:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {d['sd']:.3f} | {d['a_better']} of "
                f"{d['pairs']} |")
        assert re.search(re.escape(f"| {ds.upper() if ds == 'acdc' else 'MSCMR'} | `cim − {b}`") + r"[^|]*"
                         + re.escape(tail), text), (ds, b)

    runs = pd.read_csv(ROOT / "results/tables/cpu-lr03_seeds_runs.csv")
    runs = runs[runs.structure == "mean"].sort_values("seed")

    def per_seed(ds: str, m: str) -> str:
        return f"`{m}` " + " ".join(f"{v:.3f}" for v in runs[(runs.dataset == ds) & (runs.method == m)].dice)
    assert (f"Per seed {at['acdc', 'cim']} (ACDC mean Dice): {per_seed('acdc', 'cim')}; "
            f"{per_seed('acdc', 'pce_selfdice')}; {per_seed('acdc', 'pce')}; {per_seed('acdc', 'dmpls')}. MSCMR "
            f"{at['mscmr', 'cim']}: {per_seed('mscmr', 'cim')}; {per_seed('mscmr', 'pce_selfdice')}.") in text

    sd = {key: t["dice_std"] for key, t in rows.items()}
    assert sd["acdc", "pce_selfdice"] < sel["mean"] < sd["acdc", "cim"]
    assert (f"`cim − pce_selfdice` on ACDC ({sel['mean']:+.3f}) exceeds `pce_selfdice`'s sd "
            f"({sd['acdc', 'pce_selfdice']:.3f}) but not `cim`'s ({sd['acdc', 'cim']:.3f}); on MSCMR "
            f"({sel_m['mean']:+.3f}) it is smaller than both sds ({sd['mscmr', 'pce_selfdice']:.3f}, "
            f"{sd['mscmr', 'cim']:.3f}).") in text
    assert sel_m["mean"] < min(sd["mscmr", "pce_selfdice"], sd["mscmr", "cim"])
    assert f"`cim − pce` ({pce['mean']:+.3f}) is smaller than `cim`'s sd." in text and pce["mean"] < sd["acdc", "cim"]
    assert (f"`cim − dmpls` ({dmpls['mean']:+.3f}) is smaller than both." in text
            and abs(dmpls["mean"]) < min(sd["acdc", "dmpls"], sd["acdc", "cim"]))
    assert (f"ahead of its own loss on {sel['a_better'] + sel_m['a_better']} of {sel['pairs'] + sel_m['pairs']} paired "
            f"seeds ({sel['pairs']} ACDC, {sel_m['pairs']} MSCMR)") in text
    others = [v for (ds, m), v in sd.items() if ds == "acdc" and m not in ("full", "pce")]
    assert sd["acdc", "pce"] < min(others) and sd["acdc", "full"] < sd["acdc", "pce"]
    assert (f"is met only by `full` ({sd['acdc', 'full']:.3f}); `pce` comes close ({sd['acdc', 'pce']:.3f});" in text)
    assert f"against {rows['acdc', 'full']['hd95_mean']:.1f} mm for `full`)" in text
    cim = runs[(runs.dataset == "acdc") & (runs.method == "cim")].set_index("seed")
    assert (f"(`cim` seed 2023: Dice {cim.dice[2023]:.2f}, HD95 {cim.hd95[2023]:.0f} mm; seed 2022: "
            f"{cim.dice[2022]:.2f}, {cim.hd95[2022]:.0f} mm;") in text
    assert {s["provenance"]["config"]["max_iterations"] for s in grid} == {1500}
    assert "so 1500 iterations decide between two outcomes" in text

    purity = {(b["kind"], b["class"]): b for b in record["bank_purity"] if b["dataset"] == "acdc"}
    assert all(purity["bank_shared", k]["mean"] == 0 for k in CLASSES)
    assert ("on ACDC (dense labels used only to measure): "
            + ", ".join(f"{k} {purity['bank_purity', k]['mean']:.2f} ± {purity['bank_purity', k]['std']:.2f}"
                        for k in CLASSES)
            + f", shared with another bank 0 for every class ({purity['bank_purity', 'RV']['runs']} runs)") in text
    survey = {r["setting"]: r for r in record_of("results/acdc/bank_purity_survey.json")["rows"]}
    quick, lr03 = survey["quick: 128 px, 1/16, any"], survey["cpu profiles: 128 px, 1/8, majority"]
    assert not any(lr03["shared"].values())
    quick_purity, lr03_purity = (" / ".join(f"{r['purity'][k]:.2f}" for k in CLASSES) for r in (quick, lr03))
    assert (f"gives {quick_purity} with {span((quick['shared'][k] * 100 for k in CLASSES), 0)} % of entries shared "
            f"between banks, the `cpu-lr03` setting (1/8 level, majority sampling) {lr03_purity} with none shared"
            ) in text


def test_profile_selection_matches_its_record() -> None:
    """How the `cpu-lr03` profile was chosen: table, criterion, the seeds' validation Dice and the wall times
    (results/acdc/profile_selection.json; `dmpls` from the `cpu-lr03` grid's summaries)."""
    text, record = page_text(PAGE), record_of("results/acdc/profile_selection.json")
    runs = pd.DataFrame(record["runs"])
    stats = runs.groupby(["profile", "method"]).agg(["mean", "std"])
    for (profile, method), r in stats.iterrows():
        assert (f"| `{profile}` | `{method}` | {r.val_last['mean']:.3f} ± {r.val_last['std']:.3f} | "
                f"{r.val_best['mean']:.3f} ± {r.val_best['std']:.3f} | {r.wall_s['mean']:.0f} |") in text
    assert record["chosen"] == record["criterion"][0]["profile"]
    assert "Criterion: " + ", ".join(f"`{c['profile']}` {c['criterion']:.3f}" for c in record["criterion"]) in text
    cim = runs[runs.method == "cim"]
    up, stalled = cim[cim.seed == 2023], cim[cim.seed.isin([2022, 2024])]
    assert len(up) == 2 and len(stalled) == 4 and up.val_last.min() > stalled.val_best.max()
    assert (f"(seed 2023 climbs to {span([*up.val_last, *up.val_best], 2)} validation Dice at both learning rates, "
            f"2022 and 2024 stall at {span([*stalled.val_last, *stalled.val_best], 1)})") in text
    selfdice = stats.wall_s["mean"].xs("pce_selfdice", level="method")
    assert {minutes(w) for w in selfdice} == {"16"}
    grid = summaries("cpu-lr03", "acdc")
    wall = {m: [s["provenance"]["train_result"]["wall_time_s"] for s in grid if s["method"] == m]
            for m in {s["method"] for s in grid}}
    median = {m: statistics.median(w) for m, w in wall.items()}
    assert max(median, key=median.get) == "dmpls"
    assert (f"`pce_selfdice` {minutes(selfdice.iloc[0])} min, `cim` {span(cim.wall_s / 60, 0)} min, `dmpls` "
            f"{span((w / 60 for w in wall['dmpls']), 0)} min (the slowest of the `cpu-lr03` grid: its step costs "
            f"{median['dmpls'] / median['cim']:.1f}x `cim`'s;") in text


def test_quick_runs_match_their_summaries() -> None:
    """The earlier `quick` runs: tables, timing, seeds, tests and MSCMR (results/acdc/quick/*/fold1/seed*/summary.json,
    fold1_timing.json, acdc_quick_methods.csv, acdc_quick_wilcoxon.csv, profile_selection.json, results/mscmr/quick)."""
    text, runs = page_text(PAGE), {(s["method"], s["seed"]): s for s in summaries("quick", "acdc")}
    main = [runs["pce", 2022], runs["cim", 2022]]
    cases = {c["case"] for c in main[0]["checkpoints"]["best"]["cases"]}
    patients = sorted({int(c[7:10]) for c in cases})
    assert patients == list(range(1, patients[-1] + 1))
    assert f"on real ACDC fold 1 ({len(cases)} test volumes of patients 1-{patients[-1]}," in text
    purpose = record_of("results/acdc/quick/profile_selection.json")["purpose"]
    validation = re.search(r"\((\d+) patients, \d+ volumes\)", purpose)[1]
    assert f"model selection on {validation} validation patients carved from the training patients" in text
    commits = {(s["provenance"]["git"]["commit"][:7], s["provenance"]["git"]["dirty"]) for s in main}
    others = {(s["provenance"]["git"]["commit"][:7], s["provenance"]["git"]["dirty"]) for s in runs.values()
              if s not in main}
    assert commits == {("f100860", True)} and others == {("931b356", False)}
    assert ("(`results/acdc/quick/fold1_table.md`, commit f100860, seed 2022; the summaries' provenance says "
            "`dirty: true`") in text and "`report/robustness.py`, committed in 931b356)" in text
    assert "seed 2022 of `pce` and `cim` is the main job at f100860, the others ran at 931b356 as workflow jobs" in text

    def ms(d: dict, digits: int = 3) -> str:
        return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"
    for s in main:
        for name, c in s["checkpoints"].items():
            missed = sum(c["classes"][k]["empty_predictions"] for k in CLASSES)
            row = " | ".join([s["method"], name, str(c["iteration"]), *(ms(c["classes"][k]["dice"]) for k in CLASSES),
                              ms(c["foreground_mean"]["dice"]), *(ms(c["classes"][k]["hd95"], 1) for k in CLASSES),
                              ms(c["foreground_mean"]["hd95"], 1), ms(c["foreground_mean"]["asd"], 1), "n/a",
                              str(missed)])
            assert f"| {row} |" in text, (s["method"], name)

    timing = record_of("results/acdc/quick/fold1_timing.json")
    per = {m: f"{v / 60:.1f}" for m, v in timing["seconds_per_method"].items()}
    assert (f"took {timing['total_seconds'] / 60:.1f} min of training and evaluation on this 2-core CPU (`pce` "
            f"{per['pce']} min, `cim` {per['cim']} min; `results/acdc/quick/fold1_timing.json`)") in text

    table = pd.read_csv(ROOT / "results/tables/acdc_quick_methods.csv").set_index(["method", "seed"])

    def dice(m: str, seed: int) -> str:
        return f"{table.dice_mean_mean[m, seed]:.3f} ± {table.dice_mean_std[m, seed]:.3f}"
    assert f"`cim` reaches **{dice('cim', 2023)}** and `pce` {dice('pce', 2023)}." in text
    assert (f"`cim` is not ({table.dice_mean_mean['cim', 2022]:.3f} vs {table.dice_mean_mean['cim', 2023]:.3f})"
            in text)
    tests = pd.read_csv(ROOT / "results/tables/acdc_quick_wilcoxon.csv")
    tests = tests[(tests.a == "cim") & (tests.b == "pce")].sort_values("seed")
    assert list(tests.seed) == [2022, 2023] and (tests.p_value < 1e-6).all()
    assert ("On each seed `cim` beats `pce` on most test volumes ("
            + " and ".join(f"{r.a_better_cases}/{r.n}" for r in tests.itertuples()) + ", paired Wilcoxon p < 1e-6)"
            ) in text
    for (m, seed), r in table.iterrows():
        name = "`full` (dense labels)" if m == "full" else f"`{m}`"
        per_class = " | ".join(f"{r[f'dice_{k}_mean']:.3f}" for k in CLASSES)
        assert f"| {name} | {seed} | {per_class} | {dice(m, seed)} |" in text, (m, seed)

    mscmr = summaries("quick", "mscmr")
    assert len(mscmr) == 1
    s = mscmr[0]
    best, prov = s["checkpoints"]["best"], s["provenance"]
    assert f"validation subjects, {best['num_cases']} test subjects)" in text
    assert f"the same `quick` profile ({prov['config']['input_size']}x{prov['config']['input_size']}, not" in text
    assert (f"gives `cim` a mean Dice of **{ms(best['foreground_mean']['dice'])}** on the test subjects ("
            + ", ".join(f"{k} {best['classes'][k]['dice']['mean']:.3f}" for k in CLASSES)
            + f"; HD95 {ms(best['foreground_mean']['hd95'], 1)} mm, RV {ms(best['classes']['RV']['hd95'], 1)} mm; "
            f"seed {s['seed']} at {prov['git']['commit'][:7]}, as a workflow job;") in text


def test_the_papers_numbers_are_the_ones_the_paper_page_cites() -> None:
    """The paper's CIM Dice and protocol, as scribcim.report.paper_layout records them (REPORTED, SOURCES)."""
    from scribcim.report.paper_layout import REPORTED, SOURCES
    text = page_text(PAGE)
    reported = {r.dataset: r.dice["mean"] for r in REPORTED if (r.source, r.name) == ("a", "CIM")}
    assert f"the paper reports {reported['mscmr']} with its full protocol" in text
    assert f"the paper reports {reported['acdc']} mean Dice for CIM on ACDC with the full protocol (256x256," in text
    assert all(s in SOURCES["a"].protocol for s in ("ACDC 5-fold", "256x256", "60,000 iterations"))
    assert "60,000 iterations, 5 folds); the quick profile is a CPU-sized run" in text
