"""One number, one source, for the README's headline at the trained budget: every figure its budget-study sentences
state, recomputed from ``results/tables/acdc_budget.json`` (``make budget``). The table under them is rendered from
the same record (``<!-- budget acdc -->``); a record that changes without its sentences fails here."""
from __future__ import annotations

import pytest

from test_readme_numbers import page_text, paired, record_of, span


@pytest.fixture(scope="module")
def budget() -> dict:
    """The budget record, by part: differences and mean rows per (what, profile), gains, changes."""
    r = record_of("results/tables/acdc_budget.json")

    def diffs(what: str, profile: str) -> dict:
        part = r[what]["per_profile"].get(profile) or {"differences": []}
        return {(d["a"], d["b"]): d for d in part["differences"] if d["metric"] == "dice" and d["structure"] == "mean"}

    def means(what: str, profile: str) -> dict:
        part = r[what]["per_profile"].get(profile) or {"table": []}
        return {t["method"]: t for t in part["table"] if t["structure"] == "mean"}
    out = {"record": r, "long": r["long"], "short": r["short"]}
    for what in ("raw", "post"):
        for key, profile in (("long", r["long"]), ("short", r["short"])):
            out[what, key] = diffs(what, profile)
            out[what, key, "mean"] = means(what, profile)
    out["gains"] = {g["method"]: g for g in r["raw"]["gains"] if g["metric"] == "dice" and g["structure"] == "mean"}
    out["changes"] = {(c["a"], c["b"]): c for c in r["raw"]["changes"] if c["metric"] == "dice"}
    return out


def test_the_state_of_the_study_is_said(budget):
    r, text = budget["record"], page_text()
    if r["missing"]:
        assert (f"{r['planned'] - len(r['missing'])} of its {r['planned']} planned runs are in: the figures below "
                "may still move") in text
    else:
        assert f"All {r['planned']} planned runs are in" in text
    assert f"`{budget['long']}`" in text and "<!-- budget acdc -->" in text


def test_matching_over_its_own_loss_and_against_dmpls(budget):
    raw, post, text = budget["raw", "long"], budget["post", "long"], page_text()
    sel, sel_post = raw["cim", "pce_selfdice"], post["cim", "pce_selfdice"]
    assert (f"(`cim` − `pce_selfdice`, {sel['pairs']} seeds): {sel['mean']:+.3f} Dice raw, 95 % interval "
            f"{paired(sel)[7:]}, ahead on {sel['a_better']} of {sel['pairs']} seeds; {paired(sel_post)} "
            f"post-processed, {sel_post['a_better']} of {sel_post['pairs']}.") in text
    m = budget["raw", "long", "mean"]
    assert (f"the size of the across-seed sds ({m['cim']['dice_std']:.3f} and {m['pce_selfdice']['dice_std']:.3f})"
            in text)
    assert f"a gain above {sel['ci95'][1]:+.3f} raw ({sel_post['ci95'][1]:+.3f} post-processed) is ruled out" in text
    dm, dm_post = raw["cim", "dmpls"], post["cim", "dmpls"]
    assert (f"(`cim` − `dmpls`, {dm['pairs']} seeds): {paired(dm)} raw, {paired(dm_post)} post-processed"
            in text)


def test_cim_as_the_paper_sets_it(budget):
    raw, post, text = budget["raw", "long"], budget["post", "long"], page_text()
    pc, pc_post, ps = raw["cim_paper", "cim"], post["cim_paper", "cim"], raw["cim_paper", "pce_selfdice"]
    assert (f"(`cim_paper` − `cim`, {pc['pairs']} seeds): {paired(pc)} raw, {paired(pc_post)} post-processed; over "
            f"its own loss (`cim_paper` − `pce_selfdice`, {ps['pairs']} seeds) {paired(ps)} raw") in text


def test_what_the_longer_budget_bought(budget):
    text, gains = page_text(), budget["gains"]
    pairs = {g["pairs"] for g in gains.values()}
    assert len(pairs) == 1
    listed = ", ".join(f"`{m}` {g['mean']:+.3f}" for m, g in gains.items())
    assert f"from 1500 to 6000 iterations, paired by seed over {pairs.pop()} seeds): {listed}" in text
    short, long = budget["raw", "short"]["cim", "pce_selfdice"], budget["raw", "long"]["cim", "pce_selfdice"]
    change = budget["changes"]["cim", "pce_selfdice"]
    assert (f"from {short['mean']:+.3f} at 1500 iterations to {long['mean']:+.3f} at 6000 (change "
            f"{paired(change)})") in text


def test_stability_and_dense_labels(budget):
    text, m, mp = page_text(), budget["raw", "long", "mean"], budget["post", "long", "mean"]
    scribble = {k: v for k, v in m.items() if k != "full"}
    assert f"across-seed sds of mean Dice are {span(t['dice_std'] for t in scribble.values())}" in text
    r = budget["raw", "long"]["cim", "pce_selfdice"]["sd_ratio"]
    assert (f"the ratio of `cim`'s sd to `pce_selfdice`'s is {r['ratio']:.2f}, 95 % interval [{r['ci95'][0]:.2f}, "
            f"{r['ci95'][1]:.2f}] (Pitman-Morgan, paired by seed; p = {r['p_value']:.2f})") in text
    full, full_post = m["full"], mp["full"]
    best = max((k for k in mp if k != "full"), key=lambda k: mp[k]["dice_mean"])
    assert (f"(`full`, {full['runs']} seeds) reach {full['dice_mean']:.3f} ± {full['dice_std']:.3f} raw and "
            f"{full_post['dice_mean']:.3f} post-processed") in text
    assert (f"the best scribble method post-processed (`{best}`, {mp[best]['dice_mean']:.3f}) is "
            f"{full_post['dice_mean'] - mp[best]['dice_mean']:.3f} behind.") in text


def test_why_the_targets_are_missed_matches_the_error_bands_record():
    rec, text = record_of("results/tables/acdc_cpu-mm175-bf16-6k_error_bands.json"), page_text()
    d = {(x["what"], x["method"], x["class"], x["column"]): x for x in rec["differences"]}
    pairs = {x["pairs"] for x in d.values() if x["method"] == "cim"}
    assert pairs == {3} and "paired by seed over 3 seeds, ml per test volume" in text

    def full(what: str, cls: str, col: str, m: str = "cim") -> str:
        x = d[what, m, cls, col]
        return f"{x['mean']:+.2f} [{x['ci95'][0]:+.2f}, {x['ci95'][1]:+.2f}]"

    def mean(what: str, cls: str, col: str, m: str = "cim") -> str:
        return f"{d[what, m, cls, col]['mean']:+.2f}"
    assert (f"in the myocardium ({full('raw', 'MYO', 'error')} raw, {mean('post', 'MYO', 'error')} post-processed) "
            f"and the LV ({full('raw', 'LV', 'error')} raw, {mean('post', 'LV', 'error')} post-processed)") in text
    assert (f"within 5 mm of the reference boundary ({mean('post', 'MYO', 'all <= 5 mm')} and "
            f"{mean('post', 'LV', 'all <= 5 mm')} post-processed)") in text
    others = ", ".join(f"`{m}` {mean('post', 'MYO', 'fp on LV', m)}" for m in ("cim_paper", "dmpls", "pce_selfdice"))
    assert (f"myocardium predicted where the reference says LV: {full('post', 'MYO', 'fp on LV')} post-processed "
            f"({others})") in text
    # the largest confusion it names is the largest of cim's, and most of the extra error is within 5 mm
    post = {k: x for k, x in d.items() if k[0] == "post" and k[1] == "cim" and k[3].startswith(("fp on", "fn as"))}
    assert max(post, key=lambda k: post[k]["mean"])[2:] in (("MYO", "fp on LV"), ("LV", "fn as MYO"))
    for cls in ("MYO", "LV"):
        assert d["post", "cim", cls, "all <= 5 mm"]["mean"] > 0.9 * d["post", "cim", cls, "error"]["mean"]
    assert f"RV error, where the far islands were at 1500 iterations, is {full('post', 'RV', 'error')}" in text
    budget = record_of("results/tables/acdc_budget.json")
    missed = {t["target"] for t in budget["targets"] if t["met"] is False}
    assert {"cim: mean Dice >= 0.87", "cim: mean Dice >= 0.885, post-processed",
            "best scribble method within 0.015 of full, post-processed"} <= missed
