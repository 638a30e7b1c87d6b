"""One number, one source, for the README's prose: every figure its Results section states in a sentence (the
headline bullets, why the targets are missed, the robustness paragraph; and the far-field paragraph of
docs/results.md) recomputed from the committed record it comes from. The tables between ``<!-- kind key -->``
markers are rendered from records (``doc_blocks``); these sentences are written by hand around them, so a record
that changes without its sentence fails here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def page_text(page: str = "README.md") -> str:
    """A page with its whitespace folded (sentences wrap at any word)."""
    return " ".join((ROOT / page).read_text().split())


def record_of(path: str) -> dict:
    return json.loads((ROOT / path).read_text())


def paired(d: dict) -> str:
    """``+0.006 [-0.006, +0.017]`` of a seed-paired difference record."""
    lo, hi = d["ci95"]
    return f"{d['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def span(values, digits: int = 3) -> str:
    values = list(values)
    return f"{min(values):.{digits}f}-{max(values):.{digits}f}"


@pytest.fixture(scope="module")
def grid() -> dict:
    """The `cpu-mm175` comparison record, by part: raw and post-processed differences and mean rows."""
    r = record_of("results/tables/cpu-mm175_seeds.json")

    def diffs(part: list) -> dict:
        return {(d["a"], d["b"], d["dataset"]): d for d in part if d["metric"] == "dice" and d["structure"] == "mean"}

    def means(part: list) -> dict:
        return {(t["method"], t["dataset"]): t for t in part if t["structure"] == "mean"}
    return {"raw": diffs(r["differences"]), "post": diffs(r["postprocessed"]["differences"]),
            "mean": means(r["table"]), "mean_post": means(r["postprocessed"]["table"])}


def test_headline_contrasts_match_the_grid_record(grid):
    raw, post, text = grid["raw"], grid["post"], page_text()
    sel, sel_post = raw["cim", "pce_selfdice", "acdc"], post["cim", "pce_selfdice", "acdc"]
    assert (f"(`cim` − `pce_selfdice`, ACDC, {sel['pairs']} seeds): {sel['mean']:+.3f} Dice raw, 95 % interval "
            f"{paired(sel)[7:]}, ahead on {sel['a_better']} of {sel['pairs']} seeds; {paired(sel_post)} "
            f"post-processed, {sel_post['a_better']} of {sel_post['pairs']}.") in text
    sds = f"({grid['mean']['cim', 'acdc']['dice_std']:.3f} and {grid['mean']['pce_selfdice', 'acdc']['dice_std']:.3f})"
    assert f"the size of the across-seed sds {sds}" in text
    assert (f"a gain above {sel['ci95'][1]:+.3f} raw ({sel_post['ci95'][1]:+.3f} post-processed) is ruled out"
            in text)
    mscmr = raw["cim", "pce_selfdice", "mscmr"]
    assert f"On MSCMR ({mscmr['pairs']} seeds): {paired(mscmr)}." in text
    dm, dm_post = raw["cim", "dmpls", "acdc"], post["cim", "dmpls", "acdc"]
    assert (f"(`cim` − `dmpls`, ACDC, {dm['pairs']} seeds): {paired(dm)} raw, {paired(dm_post)} post-processed"
            in text)
    means = grid["mean"]
    vs_pce = paired(raw["cim", "pce", "acdc"])
    assert (f"(`pce_selfdice` {means['pce_selfdice', 'acdc']['dice_mean']:.3f} against `pce` "
            f"{means['pce', 'acdc']['dice_mean']:.3f} raw; `cim` − `pce` {vs_pce})") in text


def test_headline_stability_matches_the_grid_record(grid):
    scribble = [t for (m, ds), t in grid["mean"].items() if ds == "acdc" and m != "full"]
    assert len(scribble) == 5
    text = page_text()
    sds = span(t["dice_std"] for t in scribble)
    assert f"Across-seed sds of mean Dice are {sds} for every scribble method" in text
    r = grid["raw"]["cim", "pce_selfdice", "acdc"]["sd_ratio"]
    lo, hi = r["ci95"]
    assert (f"the ratio of their sds is {r['ratio']:.2f}, 95 % interval [{lo:.2f}, {hi:.2f}] (Pitman-Morgan, paired "
            f"by seed; p = {r['p_value']:.2f})") in text


def test_dense_label_gaps_match_the_grid_record(grid):
    text = page_text()
    gaps = {}
    for kind, means in (("raw", grid["mean"]), ("post", grid["mean_post"])):
        full = means["full", "acdc"]["dice_mean"]
        gaps[kind] = {m: full - t["dice_mean"] for (m, ds), t in means.items() if ds == "acdc" and m != "full"}
    full, full_post = grid["mean"]["full", "acdc"], grid["mean_post"]["full", "acdc"]
    assert (f"(`full`, {full['runs']} seeds) reach {full['dice_mean']:.3f} ± {full['dice_std']:.3f} raw and "
            f"{full_post['dice_mean']:.3f} post-processed") in text
    raw, post = gaps["raw"], gaps["post"]
    nearest, farthest = min(raw, key=raw.get), max(raw, key=raw.get)
    assert (nearest, farthest) == ("dmpls", "pce")
    assert (f"{span(raw.values())} Dice behind dense labels raw (`{nearest}` nearest, `{farthest}` farthest; `cim` "
            f"{raw['cim']:.3f}) and {span(post.values())} post-processed (`{min(post, key=post.get)}` nearest") in text
    far_post = sorted(m for m, g in post.items() if f"{g:.3f}" == f"{max(post.values()):.3f}")
    assert far_post == ["pce", "pce_dice"] and "`pce` and `pce_dice` farthest" in text


def test_why_targets_are_missed_matches_the_far_field_records(grid):
    ff = record_of("results/tables/acdc_cpu-mm175_far_field.json")
    methods = {m["method"]: m for m in ff["methods"]}
    share = {(c["method"], c["structure"]): c["raw"] for c in ff["classes"]}
    cim, full, text = methods["cim"], methods["full"], page_text()
    assert f"{cim['far']} of `cim`'s {cim['case_runs']} case-runs" in text
    assert (f"({share['cim', 'RV'] * 100:.0f} % of case-runs above 20 mm for RV, "
            f"{span([share['cim', 'MYO'] * 100, share['cim', 'LV'] * 100], 0)} % for MYO and LV)") in text
    assert f"Their raw Dice is {cim['dice_far']:.3f} against {cim['dice_near']:.3f} for the other case-runs" in text
    assert (f"brings them to {cim['dice_post_far']:.3f} (HD95 {cim['hd95_far']:.1f} to {cim['hd95_post_far']:.1f} mm)"
            in text)
    post = grid["mean_post"]["cim", "acdc"]
    assert (f"post-processed `cim` is at {post['dice_mean']:.3f} Dice and {post['hd95_mean']:.1f} mm HD95" in text)
    split = {s["far"]: s for s in record_of("results/acdc/cpu-mm175/far_field_islands.json")["split"]
             if s["method"] == "cim"}
    assert (f"median {split[True]['ml_total_median']:.0f} ml of predicted islands apart from the heart against "
            f"{split[False]['ml_total_median']:.0f} ml for the rest") in text
    assert (f"(farthest island a median {split[True]['farthest_median']:.0f} and {split[False]['farthest_median']:.0f}"
            " mm from the heart)") in text
    worst = [c for c in ff["cases"] if c["far_runs"] >= 22]
    runs = {c["runs"] for c in ff["cases"]}
    patients = sorted({c["case"][7:10] for c in worst})
    assert (f"far in {span((c['far_runs'] for c in worst), 0)} of the {runs.pop()} ACDC runs of every method and "
            f"seed (patients {', '.join(patients)})") in text and not runs
    assert (f"{full['far']} of `full`'s {full['case_runs']} case-runs are above 20 mm raw (Dice "
            f"{full['dice_far']:.3f} against {full['dice_near']:.3f} for the rest)") in text
    dense, dense_post = grid["mean"]["full", "acdc"]["dice_mean"], grid["mean_post"]["full", "acdc"]["dice_mean"]
    assert f"Dense labels miss their target (0.89) by {0.89 - dense:.3f}" in text
    assert f"post-processed `full` is at {dense_post:.3f}" in text


def test_robustness_paragraph_matches_the_robustness_record():
    rec = record_of("results/tables/acdc_cpu-mm175_robustness_seeds.json")
    raw, post, text = rec["raw"], rec["post-processed"], page_text()
    change = {c["of"]: c for c in raw["level_changes"] if (c["a"], c["b"]) == ("0.50", "0.00")}
    sel = paired(change["pce_selfdice"])
    assert (f"(`pce_selfdice` {sel[:6]} Dice raw {sel[7:]}; `dmpls` {change['dmpls']['mean']:+.3f}, "
            f"`cim` {change['cim']['mean']:+.3f}, intervals reaching zero)") in text
    assert all(change[m]["ci95"][0] <= 0 for m in ("dmpls", "cim")) and change["pce_selfdice"]["ci95"][0] > 0
    slopes = {(d["b"], kind): d for kind, part in (("raw", raw), ("post", post)) for d in part["slope_differences"]}
    sel_raw, sel_post = paired(slopes["pce_selfdice", "raw"]), paired(slopes["pce_selfdice", "post"])
    assert (f"`cim` − `pce_selfdice` is {sel_raw[:6]} Dice per unit inconsistency, 95 % interval {sel_raw[7:]} raw "
            f"({sel_post} post-processed; `cim` − `dmpls` {paired(slopes['dmpls', 'raw'])})") in text
    levels = rec["section"]["levels"]
    behind = {d["condition"]: d["mean"] for d in raw["differences"] if d["b"] == "pce_selfdice"}
    assert f"({', '.join(f'{behind[lv]:+.3f}' for lv in levels)} raw; intervals reaching zero)" in text
    assert all(behind[lv] < 0 for lv in levels)
    sd = {(t["method"], t["condition"]): t["dice_std"] for t in raw["table"]}
    assert (f"(sd {span(sd['cim', lv] for lv in levels)} against {span(sd['pce_selfdice', lv] for lv in levels)})"
            in text)


def test_robustness_base_annotator_matches_its_records():
    """The simulated base against the experts: Dice gap at level 0, bank purity, coverage and background depth."""
    import pandas as pd
    rec, text = record_of("results/tables/acdc_cpu-mm175_robustness_seeds.json"), page_text()
    gaps = [-g["mean"] for g in rec["raw"]["base_gaps"]]
    assert len(gaps) == 3 and f"(every method {span(gaps, 2)} Dice below its expert runs at level 0)" in text
    purity = {}
    for line in (ROOT / "results/tables/acdc_cpu-mm175_robustness_seeds.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0].startswith("matched-centreline inc "):
            purity[cells[0][-4:]] = [c.split(" ± ")[0] for c in cells[3:6]]
    (rv0, myo0, lv0), (rv1, myo1, lv1) = purity["0.00"], purity["1.00"]
    assert f"(RV {rv0} to {rv1}, MYO {myo0} to {myo1}, LV {lv0} to {lv1} of entries" in text
    cov = pd.read_csv(ROOT / "results/acdc/cpu-mm175/robustness_matched_coverage.csv")
    base = cov[cov.level == 0].groupby("class").coverage_pct.mean()
    expert = record_of("results/acdc/cpu-mm175/robustness_matched_coverage.json")["expert_coverage_pct"]
    assert (f"it marks RV {base['RV']:.1f} % and LV {base['LV']:.1f} % of the class pixels where the experts mark "
            f"{expert['RV']:.1f} % and {expert['LV']:.1f} %") in text
    geo = pd.read_csv(ROOT / "results/acdc/cpu-mm175/robustness_matched_geometry.csv")
    depth = geo[(geo.scope == "level") & (geo["name"].astype(str) == "0.00") & (geo["class"] == "BG")].depth_mm.mean()
    expert_depth = record_of("results/acdc/cpu-mm175/robustness_matched_geometry.json")["expert"]["BG"]["depth_mm"]
    assert f"background strokes farther from the heart ({depth:.0f} against {expert_depth:.0f} mm)" in text


def test_run_counts_and_sd_ratios_match_the_records():
    grid = record_of("results/tables/cpu-mm175_seeds.json")
    rec, text = record_of("results/tables/acdc_cpu-mm175_robustness_seeds.json"), page_text()
    runs = sum(t["runs"] for t in grid["table"] if t["structure"] == "mean")
    assert f"all {runs} runs were trained at one commit ({grid['training_commits'][0][:7]})" in text
    assert f"{len(rec['summaries'])} runs at {rec['training_commits'][0][:7]}: `pce_selfdice`, `dmpls`, `cim`" in text
    sd = {(t["method"], t["condition"]): t["dice_std"] for t in rec["raw"]["table"]}
    ratios = [sd["cim", lv] / sd["pce_selfdice", lv] for lv in rec["section"]["levels"]]
    assert f"{span(ratios, 0)} times less steady across seeds" in text
    assert f"its runs spread {span(ratios, 0)} times more than" in page_text("docs/robustness.md")
    check = record_of("results/acdc/cpu-mm175/robustness_matched_coverage.json")["check"]
    worst = max(c["worst"] for c in check.values())
    assert worst < 0.02 and "per-class coverage held within 2 %" in text


def test_far_field_paragraph_of_the_results_page_matches_its_records():
    ff = record_of("results/tables/acdc_cpu-mm175_far_field.json")
    methods = {m["method"]: m for m in ff["methods"]}
    share = {(c["method"], c["structure"]): c["raw"] for c in ff["classes"]}
    islands = record_of("results/acdc/cpu-mm175/far_field_islands.json")
    split = {(s["method"], s["far"]): s for s in islands["split"]}
    per_class = {(r["method"], r["class"]): r for r in islands["table"]}
    cim, text = methods["cim"], page_text("docs/results.md")
    far = {m: methods[m]["far"] for m in ("pce_selfdice", "dmpls", "pce")}
    assert (f"(`cim` {cim['far']} of {cim['case_runs']}, `pce_selfdice` {far['pce_selfdice']}, `dmpls` "
            f"{far['dmpls']}; `pce` {far['pce']})") in text
    assert (f"(55 % of `cim`'s case-runs above 20 mm for RV, "
            f"{span([share['cim', 'MYO'] * 100, share['cim', 'LV'] * 100], 0)} % for MYO and LV)") in text
    assert f"{share['cim', 'RV'] * 100:.0f}" == "55"
    assert (f"Their raw Dice is {cim['dice_near'] - cim['dice_far']:.2f} lower than the other case-runs' (`cim` "
            f"{cim['dice_far']:.3f} against {cim['dice_near']:.3f})") in text
    assert (f"({cim['dice_post_far']:.3f} against {cim['dice_post_near']:.3f}; HD95 {cim['hd95_far']:.1f} to "
            f"{cim['hd95_post_far']:.1f} mm)") in text
    ml = {m: (f"{split[m, True]['ml_total_median']:.0f}", f"{split[m, False]['ml_total_median']:.0f}")
          for m in ("cim", "pce_selfdice", "dmpls")}
    assert (f"hold a median {ml['cim'][0]} ml of islands against {ml['cim'][1]} ml for the rest (`pce_selfdice` "
            f"{ml['pce_selfdice'][0]} against {ml['pce_selfdice'][1]} ml, `dmpls` {ml['dmpls'][0]} against "
            f"{ml['dmpls'][1]} ml)") in text
    assert (f"(median {split['cim', True]['farthest_median']:.0f} against "
            f"{split['cim', False]['farthest_median']:.0f} mm)") in text
    size = {c: per_class["cim", c]["ml_median"] for c in ("RV", "MYO", "LV")}
    assert (f"(median {size['RV']:.1f} and {size['MYO']:.1f} ml for `cim`) and fewer, larger LV ones (median "
            f"{size['LV']:.1f} ml)") in text
    worst = [c for c in ff["cases"] if c["far_runs"] >= 22]
    patients = sorted({c["case"][7:10] for c in worst})
    assert (f"(patients {', '.join(patients[:-1])} and {patients[-1]} in "
            f"{span((c['far_runs'] for c in worst), 0)} of the 26 ACDC runs)") in text
