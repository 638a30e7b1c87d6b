"""One number, one source, for the prose of docs/robustness.md, docs/methods.md, docs/training.md, docs/paper.md
and docs/predict.md: every measured figure a hand-written sentence (or hand-typed table outside the ``<!-- kind key
-->`` markers) states, recomputed from the committed record it comes from and asserted, formatted as on the page,
inside the sentence that states it. Protocol constants (iterations, pixel sizes, seeds, split sizes, the paper's
reported numbers) are not measurements and are not checked; neither are figures already checked by
tests/test_docs.py or tests/test_readme_numbers.py. docs/gpu.md's pack sizes come from the pack records
(`scribcim pack --record`)."""
from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest

from test_readme_numbers import ROOT, page_text, paired, record_of, span

ROBUST = "results/tables/acdc_cpu-mm175_robustness_seeds"
MATCHED = "results/acdc/cpu-mm175/robustness_matched"
HEART = ("RV", "MYO", "LV")


def one_or_span(values, digits: int) -> str:
    """``100`` when every value rounds alike, else ``77-78`` (the page's way of giving a range)."""
    values = list(values)
    text = span(values, digits)
    lo, hi = text.split("-")
    return lo if lo == hi else text


def level_label(level: str) -> str:
    """``0``, ``0.5``, ``1`` of a record's level ``0.00``, ``0.50``, ``1.00``."""
    return f"{float(level):g}"


@pytest.fixture(scope="module")
def robust() -> dict:
    """The multi-seed robustness record and its runs table."""
    return {"rec": record_of(f"{ROBUST}.json"), "runs": pd.read_csv(ROOT / f"{ROBUST}_runs.csv")}


@pytest.fixture(scope="module")
def matched() -> dict:
    """The matched family's measured coverage and geometry (level means over scribble seeds)."""
    cov = pd.read_csv(ROOT / f"{MATCHED}_coverage.csv")
    geo = pd.read_csv(ROOT / f"{MATCHED}_geometry.csv")
    geo = geo[geo.scope == "level"].astype({"name": str})
    return {"coverage": cov.groupby(["level", "class"]).coverage_pct.mean(),
            "coverage_json": record_of(f"{MATCHED}_coverage.json"),
            "geometry": geo.groupby(["name", "class"])[["slices_marked_pct", "depth_mm"]].mean(),
            "geometry_json": record_of(f"{MATCHED}_geometry.json")}


def test_robustness_answer_matches_the_robustness_record(robust):
    """docs/robustness.md, **Answer.**: level changes, slope differences, gaps and sds of the robustness record."""
    rec, text = robust["rec"], page_text("docs/robustness.md")
    raw, post, levels = rec["raw"], rec["post-processed"], rec["section"]["levels"]
    methods = rec["section"]["methods"]
    change = {(c["of"], c["a"]): c for c in raw["level_changes"]}
    assert all(change[m, "0.50"]["mean"] > 0 for m in methods)
    sel = paired(change["pce_selfdice", "0.50"])
    at_one = [change[m, "1.00"]["mean"] for m in methods]
    assert (f"(`pce_selfdice` {sel[:6]} Dice raw, 95 % interval {sel[7:]}; `dmpls` {paired(change['dmpls', '0.50'])}, "
            f"`cim` {paired(change['cim', '0.50'])}), and at 1 every method was still at or above level 0 "
            f"({min(at_one):+.3f} to {max(at_one):+.3f})") in text
    assert min(at_one) >= 0
    slopes = {(d["b"], kind): d for kind, part in (("raw", raw), ("post", post)) for d in part["slope_differences"]}
    sel = paired(slopes["pce_selfdice", "raw"])
    assert (f"`cim` − `pce_selfdice` **{sel[:6]} Dice per unit inconsistency, 95 % interval {sel[7:]}** raw "
            f"({paired(slopes['pce_selfdice', 'post'])} post-processed), `cim` − `dmpls` "
            f"{paired(slopes['dmpls', 'raw'])}.") in text
    lo, hi = slopes["pce_selfdice", "raw"]["ci95"]
    assert hi - lo > max(abs(c["mean"]) for c in raw["level_changes"] if c["of"] in methods)
    assert f"with {slopes['pce_selfdice', 'raw']['pairs']} seeds this interval is wider" in text
    diff = {d["condition"]: d for d in raw["differences"] if d["b"] == "pce_selfdice"}
    assert all(diff[lv]["mean"] < 0 and diff[lv]["ci95"][0] <= 0 <= diff[lv]["ci95"][1] for lv in levels)
    ahead, pairs = sum(diff[lv]["a_better"] for lv in levels), sum(diff[lv]["pairs"] for lv in levels)
    gaps = ", ".join(f"{diff[lv]['mean']:+.3f}" for lv in levels)
    assert (f"(raw `cim` − `pce_selfdice` {gaps} at {', '.join(level_label(lv) for lv in levels)}; ahead on {ahead} "
            f"of {pairs} seed pairs, every interval reaching zero)") in text
    expert = diff["expert"]
    assert (f"scribbles it is ahead ({paired(expert)}, {expert['a_better']} of {expert['pairs']})") in text
    sd = {(t["method"], t["condition"]): t["dice_std"] for t in raw["table"]}
    cim_sd, sel_sd = (", ".join(f"{sd[m, lv]:.3f}" for lv in levels) for m in ("cim", "pce_selfdice"))
    assert (f"`pce_selfdice`'s (sd {cim_sd} against {sel_sd}; on expert scribbles {sd['cim', 'expert']:.3f} "
            f"against {sd['pce_selfdice', 'expert']:.3f})") in text


def test_robustness_design_matches_the_summaries(robust):
    """docs/robustness.md, **Design.** and the rerun line: run counts and training minutes, from the summaries."""
    rec, text = robust["rec"], page_text("docs/robustness.md")
    simulated = [p for p in rec["summaries"] if "/sim-" in p]
    runs, sims = len(rec["summaries"]), len(simulated)
    assert (f"All {runs} runs were trained at one commit ({rec['training_commits'][0][:7]}; the {sims} simulated "
            "ones as") in text
    # Which runs resumed is not recorded; a resumed run's wall time counts only its last part, so they are the
    # three shortest, each under 10 min where every whole run took more.
    minutes = sorted(record_of(f"results/{p}")["provenance"]["train_result"]["wall_time_s"] / 60 for p in simulated)
    resumed, whole = minutes[:3], minutes[3:]
    median = statistics.median(whole)
    assert max(resumed) < 10 <= min(whole)
    assert (f"{span(whole, 0)} min of training a run, median {median:.1f}, by the summaries' "
            f"`train_result.wall_time_s`, the {len(resumed)} runs resumed from a checkpoint left out") in text
    assert (f"({runs} runs, of which {runs - sims} are the comparison grid's; about {sims} x {median:.0f} min / 2 "
            f"lanes = {sims * median / 2 / 60:.0f} h") in text


def test_robustness_coverage_and_geometry_match_their_records(matched):
    """docs/robustness.md, **Coverage held, style changed.**: robustness_matched_coverage and _geometry records."""
    text, cov, geo = page_text("docs/robustness.md"), matched["coverage"], matched["geometry"]
    levels = (0.0, 0.5, 1.0)
    worst = max(c["worst"] for c in matched["coverage_json"]["check"].values())
    assert f"stays within {math.ceil(worst * 100)} % of level 0 at every level and scribble seed" in text
    ranges = ", ".join(f"{c} {span((cov[lv, c] for lv in levels), 2)} %" for c in HEART)
    assert f"`results/acdc/cpu-mm175/robustness_matched_coverage.md`): {ranges} of the class pixels" in text
    marked = {lv: one_or_span((geo.loc[(lv, c), "slices_marked_pct"] for c in HEART), 0) for lv in ("0.00", "1.00")}
    assert f"the share of slices marked falls from {marked['0.00']} % to {marked['1.00']} %" in text
    depth = {c: (geo.loc[("0.00", c), "depth_mm"], geo.loc[("1.00", c), "depth_mm"]) for c in ("BG",) + HEART}
    assert (f"(RV {depth['RV'][0]:.1f} to {depth['RV'][1]:.1f} mm from another class, LV {depth['LV'][0]:.1f} to "
            f"{depth['LV'][1]:.1f} mm, MYO {depth['MYO'][0]:.1f} to {depth['MYO'][1]:.1f} mm)") in text
    assert f"background strokes farther from the heart ({depth['BG'][0]:.1f} to {depth['BG'][1]:.1f} mm;" in text


def bank_purity(path: str) -> dict:
    """Training scribbles -> (runs, [RV, MYO, LV] means) of the bank-purity table of the robustness report."""
    rows = {}
    for line in (ROOT / path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].isdigit():
            rows[cells[0]] = (int(cells[1]), [c.split(" ± ")[0] for c in cells[3:6]])
    return rows


def test_robustness_bullets_match_the_robustness_records(robust, matched):
    """docs/robustness.md, "What else it shows": the robustness record, its runs table and report, coverage records."""
    rec, runs, text = robust["rec"], robust["runs"], page_text("docs/robustness.md")
    raw, post, levels = rec["raw"], rec["post-processed"], rec["section"]["levels"]
    mean = {(t["method"], t["condition"]): t["dice_mean"] for t in raw["table"]}
    curves = "; ".join(f"`{m}` " + ", ".join(f"{mean[m, lv]:.3f}" for lv in levels) for m in rec["section"]["methods"])
    assert f"(raw {curves}), so the slopes" in text
    assert all(mean[m, "0.50"] > max(mean[m, "0.00"], mean[m, "1.00"]) for m in rec["section"]["methods"])
    slopes = raw["slopes"]
    assert all(s["ci95"][0] <= 0 <= s["ci95"][1] for s in slopes)
    low, high = min(s["slope"] for s in slopes), max(s["slope"] for s in slopes)
    assert f"({low:+.3f} to {high:+.3f} raw, every interval containing zero)" in text
    rv = runs[(runs.metrics == "raw") & (runs.structure == "RV")].groupby(["method", "condition"]).dice.mean()
    pair = ("pce_selfdice", "dmpls")
    assert (f"(raw RV Dice {one_or_span((rv[m, '0.00'] for m in pair), 2)} to "
            f"{one_or_span((rv[m, '0.50'] for m in pair), 2)} for `pce_selfdice` and `dmpls`, {rv['cim', '0.00']:.2f} "
            f"to {rv['cim', '0.50']:.2f} for `cim`)") in text
    purity = bank_purity(f"{ROBUST}.md")
    by_class = zip(*(purity[f"matched-centreline inc {lv}"][1] for lv in levels))
    n, expert = purity["expert"]
    per_class = ", ".join(f"{c} " + ", ".join(v) for c, v in zip(HEART, by_class))
    assert (f"level: {per_class} at {', '.join(level_label(lv) for lv in levels)} (experts: {', '.join(expert)}; "
            f"mean of {n} runs at their chosen checkpoints)") in text
    gap = {c["a"]: c for c in raw["level_changes"] if c["of"] == "cim − pce_selfdice"}
    half = {f"{(c['ci95'][1] - c['ci95'][0]) / 2:.2f}" for c in gap.values()}
    assert (f"(change of the gap from level 0: {gap['0.50']['mean']:+.3f} at 0.5, {gap['1.00']['mean']:+.3f} at 1, "
            f"intervals about ±{half.pop()})") in text and not half
    base = {g["method"]: g for g in raw["base_gaps"]}
    hd95 = {(t["method"], t["condition"]): t["hd95_mean"] for t in post["table"]}
    each = ", ".join(f"`{m}` {paired(g)}" for m, g in base.items())
    assert (f"each method is {span((-g['mean'] for g in base.values()), 2)} Dice below its own runs on the expert "
            f"scribbles ({each} raw; post-processed HD95 "
            f"{span((hd95[m, '0.00'] for m in base), 0)} mm against {span((hd95[m, 'expert'] for m in base), 0)} mm)"
            ) in text
    cov, expert_cov = matched["coverage"], matched["coverage_json"]["expert_coverage_pct"]
    depth, expert_depth = matched["geometry"].loc[("0.00", "BG"), "depth_mm"], matched["geometry_json"]["expert"]
    assert (f"Measured on the same {matched['geometry_json']['parameters']['volumes']} training volumes, the base "
            f"marks about half as much of the blood pools (RV {cov[0.0, 'RV']:.2f} % and LV {cov[0.0, 'LV']:.2f} % of "
            f"the class pixels; experts {expert_cov['RV']:.2f} % and {expert_cov['LV']:.2f} %; MYO "
            f"{cov[0.0, 'MYO']:.2f} against {expert_cov['MYO']:.2f} %) and draws its background strokes farther from "
            f"the heart ({depth:.1f} against {expert_depth['BG']['depth_mm']:.1f} mm)") in text
    post_mean = {(t["method"], t["condition"]): t["dice_mean"] for t in post["table"]}
    gains = [post_mean[k] - mean[k] for k in mean if k[1] != "expert"]
    assert f"adds {span(gains, 3)} Dice on simulated scribbles" in text


def test_robustness_history_matches_the_quick_records():
    """docs/robustness.md, the single-seed `quick` grid: results/acdc/quick/robustness_fold1*.csv and all_runs.csv."""
    text = page_text("docs/robustness.md")
    grid = pd.read_csv(ROOT / "results/acdc/quick/robustness_fold1.csv")
    cell = {(r.method, r.scribbles, r.inconsistency): r for r in grid.itertuples()}
    change = {}
    for m in ("pce", "pce_selfdice", "dmpls", "cim"):
        cols = [cell[m, "expert", 0.0]] + [cell[m, "centreline", lv] for lv in (0.0, 0.5, 1.0)]
        change[m] = cols[3].mean - cols[1].mean
        cells = " | ".join(f"{c.mean:.3f} ± {c.std:.3f}" for c in cols)
        assert f"| {m} | {cells} | {change[m]:+.3f} |" in text
    cov = pd.read_csv(ROOT / "results/acdc/quick/robustness_fold1_coverage.csv")
    names = {("expert", 0.0): "expert", ("centreline", 0.0): "centreline, inconsistency 0",
             ("centreline", 0.5): "inconsistency 0.5", ("centreline", 1.0): "inconsistency 1"}
    row = {(r.scribbles, r.inconsistency): r for r in cov.itertuples()}
    for key, name in names.items():
        r = row[key]
        assert f"| {name} | {r.RV:.2f} | {r.MYO:.2f} | {r.LV:.2f} | {r.mean:.2f} |" in text
    runs = pd.read_csv(ROOT / "results/tables/all_runs.csv").query("dataset == 'acdc'")
    expert = runs[(runs.profile == "quick") & (runs.scribbles == "expert")].set_index(["method", "seed"]).mean_mean
    assert max(change, key=change.get) == "pce" and min(change.values()) > 0
    assert (f"`pce` most ({change['pce']:+.2f}, far beyond its spread between two seeds on expert scribbles, "
            f"{abs(expert['pce', 2023] - expert['pce', 2022]):.3f})") in text
    lv0, lv1 = row["centreline", 0.0].LV, row["centreline", 1.0].LV
    assert f"LV {lv0:.1f} -> {lv1:.1f} %" in text
    cim, dmpls = ([cell[m, "centreline", lv].mean for lv in (0.0, 0.5, 1.0)] for m in ("cim", "dmpls"))
    assert all(c < d for c, d in zip(cim, dmpls))
    cim_text, dmpls_text = ("/".join(f"{v:.3f}" for v in values) for values in (cim, dmpls))
    assert f"({cim_text} against {dmpls_text})" in text
    assert (f"`cim`'s seed spread on expert scribbles ({expert['cim', 2022]:.3f} vs {expert['cim', 2023]:.3f}), "
            f"gaps of {span((d - c for c, d in zip(cim, dmpls)), 2)} between methods") in text


def test_methods_scribble_statistics_match_the_stats_record(matched):
    """docs/methods.md, simulated scribbles: results/acdc/scribbles/stats.json and the matched geometry record."""
    stats = record_of("results/acdc/scribbles/stats.json")
    rows, volumes = {r["source"]: r for r in stats["rows"]}, len(stats["parameters"]["cases"])
    text = page_text("docs/methods.md")
    assert f"compares each style with the expert scribbles on {volumes} ACDC volumes" in text
    assert (f"experts draw about {rows['expert']['strokes_per_slice']['MYO']:.1f} myocardium strokes per slice"
            in text)
    assert (f"(mean {rows['centreline']['boundary_mm']['BG']:.0f} mm for centre-line, "
            f"{rows['boundary']['boundary_mm']['BG']:.0f} mm for boundary;") in text
    assert f"`results/acdc/scribbles/stats.md`: {volumes} volumes," in text
    assert (f"On the {matched['geometry_json']['parameters']['volumes']} training volumes of fold 1, over the slices "
            "that hold heart") in text


def test_methods_matched_family_matches_the_coverage_records(matched):
    """docs/methods.md, the `matched-*` family: robustness_matched_coverage/_geometry and the quick coverage CSV."""
    text, cov, geo = page_text("docs/methods.md"), matched["coverage"], matched["geometry"]
    worst = max(c["worst"] for c in matched["coverage_json"]["check"].values())
    level0 = ", ".join(f"{cov[0.0, c]:.{1 if c == 'MYO' else 2}f}" for c in ("BG",) + HEART)  # MYO to 0.1 %
    assert (f"on fold 1 every class stays within {math.ceil(worst * 100)} % of level 0 at every level (BG, RV, MYO, "
            f"LV: {level0} % at level 0)") in text
    quick = pd.read_csv(ROOT / "results/acdc/quick/robustness_fold1_coverage.csv")
    quick = quick.set_index(["scribbles", "inconsistency"])
    assert round(quick.RV["centreline", 1.0] / quick.RV["centreline", 0.0]) == 2
    assert "(RV about twice level 0's at level 1)" in text
    expert = matched["coverage_json"]["expert_coverage_pct"]
    assert (f"The experts' scribbles of the same volumes mark {expert['BG']:.2f}, {expert['RV']:.2f}, "
            f"{expert['MYO']:.2f} and {expert['LV']:.2f} %") in text
    assert cov[0.0, "MYO"] >= expert["MYO"] and 2 * cov[0.0, "RV"] < expert["RV"] and 2 * cov[0.0, "LV"] < expert["LV"]
    marked = {lv: one_or_span((geo.loc[(lv, c), "slices_marked_pct"] for c in HEART), 0) for lv in ("0.00", "1.00")}
    assert f"the share of slices marked falls from {marked['0.00']} to {marked['1.00']} %" in text


def test_training_geometry_matches_the_window_records():
    """docs/training.md (and docs/predict.md), input geometry: window_coverage.json, cpu-lr03 grid, MSCMR summaries."""
    acdc, mscmr = (record_of(f"results/{d}/window_coverage.json") for d in ("acdc", "mscmr"))
    fov = [f for c in acdc["cases"] for f in c["fov_mm"]]  # one model pixel = fov / 128 for whole slices at 128 px
    text = page_text("docs/training.md")
    assert (f"one model pixel covers {min(fov) / 128:.2f}-{max(fov) / 128:.2f} mm depending on the scanner's field of "
            f"view (ACDC: {span(fov, 0)} mm, `results/acdc/window_coverage.json`") in text
    assert f"(ACDC: {span(fov, 0)} mm); the run records" in page_text("docs/predict.md")
    full = next(t for t in record_of("results/tables/cpu-lr03_seeds.json")["table"]
                if (t["method"], t["dataset"], t["structure"]) == ("full", "acdc", "mean"))
    assert f"mm per method against {full['hd95_mean']:.1f} mm with dense labels" in text
    summary = {(s["window_mm"], d): s for d, r in (("acdc", acdc), ("mscmr", mscmr)) for s in r["summary"]}
    assert (f"| ACDC volumes with every heart voxel inside ({summary[224.0, 'acdc']['volumes']}) | ACDC least share "
            f"inside | MSCMR ({summary[224.0, 'mscmr']['volumes']} labelled) |") in text
    for w, label in ((192.0, ""), (224.0, " (`cpu-mm175`)"), (256.0, " (`cpu-mm200`)")):
        a, m = summary[w, "acdc"], summary[w, "mscmr"]
        assert (f"| {w:.0f} mm{label} | {a['all_inside_share'] * 100:.1f} % | {a['min_inside_fraction']:.3f} | "
                f"{m['all_inside_share'] * 100:.0f} % |") in text
    outside = [c for c in acdc["cases"] if c["window_mm"] in (224.0, 256.0) and not c["all_inside"]]
    by_window = {w: sorted(c["case"] for c in outside if c["window_mm"] == w) for w in (224.0, 256.0)}
    assert by_window == {224.0: ["patient046_frame01", "patient046_frame10"], 256.0: ["patient046_frame01"]}
    view = {" x ".join(f"{f:g}" for f in c["fov_mm"]) for c in outside}
    assert len(view) == 1
    assert ("not fully inside are both frames of patient 46 at 224 mm and its frame 01 at 256 mm (a "
            f"{view.pop()} mm view with the heart up to {max(c['max_offset_mm'] for c in outside):.0f} mm off "
            "centre)") in text
    spacing = [c["spacing"][1:] for c in record_of("results/mscmr/cpu-mm175/cim/fold1/seed2022/summary.json")
               ["checkpoints"]["best"]["cases"]]
    mscmr_fov = [f for c in mscmr["cases"] for f in c["fov_mm"]]
    offset = max(c["max_offset_mm"] for c in mscmr["cases"])
    assert (f"MSCMR's scans ({span((s for p in spacing for s in p), 2)} mm, {span(mscmr_fov, 0)} mm fields of view) "
            f"go through the same mapping; every labelled MSCMR heart lies within {math.ceil(offset)} mm") in text


def test_training_purity_survey_and_seed_example_match_their_records():
    """docs/training.md: results/acdc/bank_purity_survey.json and the `quick` run in results/tables/all_runs.csv."""
    rows = {r["setting"]: r for r in record_of("results/acdc/bank_purity_survey.json")["rows"]}
    text = page_text("docs/training.md")
    names = {"quick: 128 px, 1/16, any": "`quick`: 128 px, matching at 1/16, any",
             "128 px, 1/8, any": "128 px, 1/8, any",
             "cpu profiles: 128 px, 1/8, majority": "`cpu-*`: 128 px, 1/8, majority",
             "paper grid: 256 px, 1/16, any": "the paper's grid: 256 px, 1/16, any"}
    for setting, name in names.items():
        r = rows[setting]
        cells = " | ".join(f"{r[part][c]:.2f}" for part in ("purity", "shared") for c in HEART)
        assert f"| {name} | {cells} |" in text, setting
    runs = pd.read_csv(ROOT / "results/tables/all_runs.csv").query("dataset == 'acdc'")
    cim = runs[(runs.profile == "quick") & (runs.scribbles == "expert") & (runs.method == "cim") & (runs.seed == 2022)]
    assert f"(cim {cim.mean_mean.item():.3f} on one machine" in text


def test_paper_run_counts_match_the_grid_record():
    """docs/paper.md, **Runs.**: runs per method in results/tables/cpu-mm175_seeds.json."""
    runs = [t["runs"] for t in record_of("results/tables/cpu-mm175_seeds.json")["table"] if t["structure"] == "mean"]
    assert f"Here: {span(runs, 0)} runs per method that differ only in their seed" in page_text("docs/paper.md")



def test_gpu_pack_sizes_match_the_pack_records():
    """docs/gpu.md: the lossless pack's size per codec, results/bench/acdc_pack_{j2k,lzma}.json."""
    j2k, lzma = (record_of(f"results/bench/acdc_pack_{c}.json") for c in ("j2k", "lzma"))
    assert (j2k["codec"], lzma["codec"], j2k["volumes"], lzma["volumes"]) == ("j2k", "lzma", 200, 200)
    text = page_text("docs/gpu.md")
    assert f"data/packs/acdc_pack.zip ({j2k['mib']:.1f} MiB)" in text
    assert (f"patterns, {j2k['bits_per_pixel']:.2f} bits per pixel; `--codec lzma` needs no Pillow and gives "
            f"{lzma['mib']:.1f} MiB, {lzma['bits_per_pixel']:.2f} bits per pixel;") in text
