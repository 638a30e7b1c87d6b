"""The front door stays current: every repository path and link that the README and the docs name exists.

A path is named in backticks (inline or a fenced block, where each word of a command is looked at) or as a
markdown link. A path in backticks is repository-relative; it is checked when it starts with a top-level entry of
the repository and looks like a path (holds a "/" or ends with a known extension). It must exist, or be something a
named command makes (``MADE_BY``: run folders, ``reproduced/``, the data root, ...). A pattern (``*``,
``<placeholder>``, ``{name}``) is checked by the folder before its first wildcard; ``{a,b}`` alternatives are each
checked. A markdown link is relative to its page and, when it names a heading (``page.md#anchor``), the anchor must
be the GitHub slug of a heading of that page. A quoted section name before a link (``"Input geometry" under
[Training](training.md)``) must be a heading or a bold paragraph lead of the page it points to.
"""
from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from test_readme_numbers import page_text, record_of
from test_readme_numbers import span as figure_span

ROOT = Path(__file__).resolve().parents[1]
#: the pages of the front door
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")),
         "notebooks/README.md", "figures/README.md"]
#: top-level entries a repository path starts with (committed, or made by a command below)
TOP = ("lib/", "notebooks/", "workflow/", "figures/", "results/", "tests/", "docs/", ".ci/", "reproduced/",
       "runs/", "data/", "carry/", "README.md", "Makefile", "pyproject.toml", "environment.yml", "CITATION.cff")
EXTENSIONS = (".md", ".py", ".ipynb", ".png", ".json", ".jsonl", ".csv", ".yaml", ".yml", ".sh", ".cff", ".toml",
              ".txt", ".h5", ".zip", ".pt", ".gz")
#: paths that no commit holds, with the command that makes them (a prefix covers everything under it)
MADE_BY = {
    "runs/": "scribcim train (also make dag, make grid, the workflow's jobs): run folders, not committed",
    "reproduced/": "make reproduce (scribcim reproduce --out reproduced): its run folders, results and figures",
    "data/": "scribcim fetch (the default data root ./data; make fetch), and scribcim pack (data/packs/)",
    "carry/": "make gpu-carry (a medpy wheel for a GPU window)",
    "results/bench/": "scribcim bench (the training-step benchmark; no GPU numbers committed yet) and "
                      "scribcim pack --record",
    "results/tables/acdc_cpu-mm175-tables_ablation.": "make ablation (python -m scribcim.report.ablation_seeds), once "
                                                       "the ablation runs are in",
    "figures/acdc_cpu-mm175-tables_ablation.png": "make ablation, once the ablation runs are in",
}
#: the workflow keeps each job's executed notebook beside its summary (git-ignored: results/**/executed.ipynb)
MADE_BY_PATTERN = {re.compile(r"results/.*executed\.ipynb$"): "any workflow job (snakemake): its executed notebook"}

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INDENTED = re.compile(r"(?:^\n)((?:(?: {4}|\t)\S.*\n)+)", re.M)  # a code block indented by four spaces
INLINE = re.compile(r"`((?:[^`\n]|\n(?!\n))+)`")  # a code span may wrap onto the next line
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
README_REF = re.compile(r"README(?:'s)?(?: section)?,? [\"“](?P<name>[^\"”\n]+)[\"”]")
SECTION_REF = re.compile(r"[\"“](?P<name>[^\"”\n]{3,80})[\"”],? (?:in|under|of) (?:the )?\[[^\]]*\]\((?P<target>[^)#\s]+)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
BOLD_LEAD = re.compile(r"^\*\*(.+?)\*\*", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation (backticks, colons, brackets, ...) dropped, spaces to
    hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a page, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for h in HEADING.findall(FENCE.sub("", markdown)):
        s = slug(h)
        out.add(s if s not in seen else f"{s}-{seen[s]}")
        seen[s] = seen.get(s, 0) + 1
    return out


def _expand(path: str) -> list[str]:
    """``a/{b,c}/d`` -> ``a/b/d``, ``a/c/d`` (only braces with a comma; ``{name}`` stays a placeholder)."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", path)
    if not m:
        return [path]
    return list(itertools.chain.from_iterable(_expand(path[:m.start()] + alt + path[m.end():])
                                              for alt in m[1].split(",")))


def _is_path(token: str) -> bool:
    return token.startswith(TOP) and ("/" in token or token.endswith(EXTENSIONS) or token in TOP)


def code_paths(markdown: str) -> list[str]:
    """Repository paths named in backticks: inline spans and fenced blocks, word by word (``RUN=path`` counts)."""
    spans = FENCE.findall(markdown) + INDENTED.findall(markdown) + INLINE.findall(FENCE.sub("", markdown))
    out = []
    for span in spans:
        for word in re.split(r"[\s=]+", span):
            word = word.strip("\"'(),;:[]").rstrip(".")
            if _is_path(word):
                out.append(word)
    return out


def made_by(path: str) -> str | None:
    """The command that makes ``path`` when no commit holds it, else None."""
    for prefix, command in MADE_BY.items():
        if path == prefix.rstrip("/") or path.startswith(prefix):
            return command
    return next((c for p, c in MADE_BY_PATTERN.items() if p.search(path)), None)


def missing_path(path: str, root: Path = ROOT) -> bool:
    """True when ``path`` (repository-relative) neither exists nor is made by a named command; a pattern is checked
    by the folder before its first wildcard."""
    for p in _expand(path):
        if made_by(p):
            continue
        wild = re.search(r"[*?<{\[]", p)
        if wild:
            p = p[:wild.start()].rsplit("/", 1)[0] if "/" in p[:wild.start()] else ""
            if not p or made_by(p + "/"):
                continue
        if not (root / p).exists():
            return True
    return False


def link_problems(markdown: str, page: Path, root: Path = ROOT) -> list[str]:
    """Links of ``page`` to files that do not exist or to headings its target does not have."""
    problems = []
    for m in LINK.finditer(FENCE.sub("", markdown)):
        target = m["target"]
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            problems.append(f"link to a missing file: {target}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text()):
            problems.append(f"link to a missing heading: {target}")
    for m in SECTION_REF.finditer(FENCE.sub("", markdown)):
        dest = (page.parent / m["target"]).resolve()
        if dest.suffix == ".md" and dest.exists():
            text = dest.read_text()
            names = [re.sub(r"[*`]", "", h).strip().lower() for h in HEADING.findall(text) + BOLD_LEAD.findall(text)]
            name = re.sub(r"[*`]", "", m["name"]).strip(" .").lower()
            if not any(n == name or n.startswith((name + ":", name + ".", name + " (")) for n in names):
                problems.append(f'section "{m["name"]}" is not a heading or bold lead of {m["target"]}')
    return problems + readme_section_problems(markdown, root)


def readme_section_problems(text: str, root: Path = ROOT) -> list[str]:
    """``README section "X"`` / ``(see README, "X")``: X must still be a heading of README.md (most moved to docs/)."""
    headings = {re.sub(r"[*`]", "", h).strip().lower() for h in HEADING.findall((root / "README.md").read_text())}
    return [f'README has no section "{m["name"]}"' for m in README_REF.finditer(text)
            if m["name"].strip().lower() not in headings]


def local_names(markdown: str, page: Path, root: Path = ROOT) -> list[str]:
    """On the README of figures/ or notebooks/: the bare figure and notebook names it lists (``x.png``,
    ``01_data_tour.ipynb``), as repository paths in that folder."""
    folder = page.parent.resolve().relative_to(root.resolve()).as_posix() if page.parent != root else ""
    if folder not in ("figures", "notebooks"):
        return []
    words = (w.strip(",;:") for span in INLINE.findall(FENCE.sub("", markdown)) for w in span.split())
    return [f"{folder}/{w}" for w in words if "/" not in w and w.endswith((".png", ".ipynb"))]


def page_problems(markdown: str, page: Path, root: Path = ROOT) -> list[str]:
    """Everything stale on a page: missing paths, then broken links."""
    named = dict.fromkeys(code_paths(markdown) + local_names(markdown, page, root))
    paths = [f"missing path: {p}" for p in named if missing_path(p, root)]
    return paths + link_problems(markdown, page, root)


@pytest.mark.parametrize("name", PAGES)
def test_every_named_path_and_link_exists(name):
    page = ROOT / name
    problems = page_problems(page.read_text(), page)
    assert not problems, f"{name}:\n  " + "\n  ".join(problems)


def test_the_checker_catches_a_made_up_path_and_a_broken_link():
    page = ROOT / "docs" / "x.md"
    text = ("Run `lib/scribcim/no_such_module.py` on `results/acdc/nosuch/*/summary.json`; "
            "see [Training](training.md#no-such-heading), [Data](nosuch.md) and "
            '"A made-up section" under [Training](training.md).\n'
            "```bash\nRUN=runs/acdc/cpu-mm175/cim/fold1/seed2022\ncat results/tables/made_up.md\n```\n")
    problems = page_problems(text, page)
    assert "missing path: lib/scribcim/no_such_module.py" in problems
    assert "missing path: results/acdc/nosuch/*/summary.json" in problems
    assert "missing path: results/tables/made_up.md" in problems
    assert "link to a missing heading: training.md#no-such-heading" in problems
    assert "link to a missing file: nosuch.md" in problems
    assert any("A made-up section" in p for p in problems)
    assert readme_section_problems('See the README section "Notebooks and batch reproduction"; (see README, '
                                   '"Batch reproduction"); the README\'s "Results".') == [
        'README has no section "Notebooks and batch reproduction"', 'README has no section "Batch reproduction"']
    assert not any("runs/" in p for p in problems)  # made by training (MADE_BY)
    good = ("`lib/scribcim/report/doc_blocks.py`, `results/acdc/quick/{pce,cim}/fold1/seed2022/summary.json`, "
            "`results/<dataset>/<profile>/`, [results](results.md#the-comparison-grid-on-cpu-mm175-issue-20), "
            "`reproduced/runs/acdc/cpu-mm175/cim/fold1/seed2022` and "
            '"A seed names one run" in [Training and evaluation](training.md).')
    assert page_problems(good, page) == []
    assert missing_path("results/acdc/quick/{pce,nosuch}/fold1/seed2022/summary.json")
    indented = "Run:\n\n    papermill notebooks/05_matching.ipynb /tmp/m.ipynb -p run_dir results/nosuch/run\n"
    assert page_problems(indented, page) == ["missing path: results/nosuch/run"]
    figures = ROOT / "figures" / "README.md"
    assert page_problems("| `acdc_nosuch.png`, `cpu-mm175_differences.png` |", figures) == \
        ["missing path: figures/acdc_nosuch.png"]


def test_every_allow_list_entry_names_the_command_that_makes_it():
    commands = [*MADE_BY.values(), *MADE_BY_PATTERN.values()]
    assert all(re.match(r"(make [\w-]+|scribcim \w+|any workflow job)", c) for c in commands), commands


def test_the_workflow_config_comments_name_existing_paths_and_profiles():
    from scribcim.config.profiles import PROFILES
    config = (ROOT / "workflow/config.yaml").read_text()
    comments = "\n".join(line.split("#", 1)[1] for line in config.splitlines() if "#" in line)
    words = [w.strip("\"'(),;:[]").rstrip(".") for w in re.split(r"[\s=]+", comments)]
    paths = [w for w in words if _is_path(w)]
    assert "docs/notebooks.md" in paths and "notebooks/02_train.ipynb" in paths
    assert [p for p in paths if missing_path(p)] == []
    assert readme_section_problems(comments) == []
    profiles = {w for w in words if re.fullmatch(r"(?:cpu|gpu)[a-z0-9]*(?:-[a-z0-9]+)+", w)}
    assert profiles and profiles <= set(PROFILES), profiles - set(PROFILES)


def test_slugs_follow_github():
    assert slug("`make reproduce`: what it does and how long it takes") == \
        "make-reproduce-what-it-does-and-how-long-it-takes"
    assert slug("The comparison grid on `cpu-mm175` (issue 20)") == "the-comparison-grid-on-cpu-mm175-issue-20"
    assert anchors("# A\n\n## A\n\n```\n# not a heading\n```\n") == {"a", "a-1"}


def profiles_named(markdown: str) -> set[str]:
    """Profile names in backticks: ``--profile X``, ``PROFILE=X`` and words like ``cpu-mm175`` or ``gpu10k``."""
    found = set()
    for span in FENCE.findall(markdown) + INLINE.findall(FENCE.sub("", markdown)):
        span = re.sub(r"\bmake [\w-]+", "", span)  # make targets (gpu-carry) are not profiles
        found |= {p for p in re.findall(r"(?:--profile[ =]|PROFILE=)([\w./-]+)", span) if "/" not in p}
        found |= {w for w in re.split(r"[\s/,()=`]+", span)
                  if re.fullmatch(r"(?:cpu|gpu)[a-z0-9]*(?:-[a-z0-9]+)+|gpu\d+k", w)}
    return found


@pytest.mark.parametrize("name", PAGES)
def test_every_named_profile_exists(name):
    from scribcim.config.profiles import PROFILES
    unknown = sorted(profiles_named((ROOT / name).read_text()) - set(PROFILES))
    assert not unknown, f"{name} names profiles that lib/scribcim/config/profiles.py does not have: {unknown}"


def test_the_profile_check_catches_a_made_up_profile():
    assert profiles_named("`make reproduce PROFILE=cpu-nosuch`, `gpu20k`, `make gpu-carry`, "
                          "`--profile workflow/profiles/slurm`") == {"cpu-nosuch", "gpu20k"}


# One number, one source: figures that the pages state in prose, recomputed from the committed record they come from
# (the helpers of tests/test_readme_numbers.py, which checks the README's prose the same way).


def test_cpu_lr03_ranges_match_the_grid_record():
    """HD95 per method and per run, and the across-seed sd, of the whole-slice grid's scribble runs."""
    import pandas as pd
    record = record_of("results/tables/cpu-lr03_seeds.json")
    rows = [r for r in record["table"] if r["structure"] == "mean" and r["method"] != "full"]
    per_method = figure_span((r["hd95_mean"] for r in rows if r["dataset"] == "acdc"), 0)
    runs = pd.read_csv(ROOT / "results/tables/cpu-lr03_seeds_runs.csv")
    runs = runs[(runs.structure == "mean") & (runs.method != "full") & (runs.dataset == "acdc")]
    per_run = figure_span(runs.hd95, 0)
    sd = {ds: figure_span((r["dice_std"] for r in rows if r["dataset"] == ds and r["method"] != "pce"), 2)
          for ds in ("acdc", "mscmr")}
    assert (per_method, per_run, sd["acdc"], sd["mscmr"]) == ("114-176", "57-184", "0.10-0.14", "0.15-0.18")
    for page in ("README.md", "docs/results.md"):
        text = page_text(page)
        assert f"{per_method} mm" in text and f"{per_run} mm per run" in text, page
        assert f"{sd['acdc']} on ACDC" in text and f"{sd['mscmr']} on MSCMR" in text, page
    assert f"{per_method} mm per method" in page_text("docs/training.md")


def test_island_distances_match_the_islands_record():
    table = record_of("results/acdc/cpu-mm175/far_field_islands.json")["table"]
    cim = figure_span((r["distance_median"] for r in table if r["method"] == "cim"), 0)
    every = figure_span((r["distance_median"] for r in table), 0)
    assert (cim, every) == ("40-51", "40-58")
    assert f"a median {cim} mm from the heart (`cim`'s islands, per class)" in page_text("README.md")
    results = page_text("docs/results.md")
    assert f"a median {cim} mm from the reference heart per class ({every} mm over the four methods' classes)" in results


def test_coverage_and_background_depth_match_their_records():
    import pandas as pd
    cov = pd.read_csv(ROOT / "results/acdc/quick/robustness_fold1_coverage.csv")
    rv = cov[cov.scribbles == "centreline"].set_index("inconsistency").RV
    change = f"RV {rv[0.0]:.1f} -> {rv[1.0]:.1f} %"
    assert change == "RV 4.4 -> 9.0 %"
    for page in ("docs/methods.md", "docs/robustness.md"):
        assert change in page_text(page), page
    stats = next(r for r in record_of("results/acdc/scribbles/stats.json")["rows"] if r["source"] == "expert")
    geometry = record_of("results/acdc/cpu-mm175/robustness_matched_geometry.json")["expert"]
    all_slices, heart_slices = f"{stats['boundary_mm']['BG']:.0f} mm", f"{geometry['BG']['depth_mm']:.1f} mm"
    methods = page_text("docs/methods.md")
    assert f"experts: {all_slices}" in methods and f"strokes lie {heart_slices} from the heart" in methods
    assert f"experts {heart_slices}" in page_text("docs/robustness.md")


def test_the_sd_target_quoted_beside_the_earlier_grid_is_the_one_in_the_targets_record():
    targets = record_of("results/tables/cpu-mm175_targets.json")["targets"]
    limits = {re.search(r"<= ([\d.]+)$", t["target"])[1] for t in targets if "across-seed sd" in t["target"]}
    assert limits == {"0.02"}
    assert "fixed in code later, is 0.02" in page_text("docs/results.md")


def test_still_climbing_claim_matches_the_grid_runs():
    """docs/results.md: the grid's best checkpoints come late and validation Dice still rises at 1500 iterations,
    recomputed from the committed training logs (scribcim.report.climbing)."""
    from scribcim.report.climbing import climbing_runs, learning_curves
    from scribcim.report.comparison import profile_summaries
    runs = [s for s in profile_summaries(ROOT / "results", "cpu-mm175", 1)
            if s["dataset"] == "acdc" and s["method"] in ("pce_selfdice", "dmpls", "cim", "full")]
    r = climbing_runs(learning_curves(ROOT / "results", {"cpu-mm175": runs}))
    claim = (f"one of the last four validations in {int(r.late.sum())} of the {len(r)} ACDC runs of `pce_selfdice`, "
             "`dmpls`, `cim` and `full`")
    assert claim.startswith("one of the last four validations in 17 of the 18 ACDC runs")
    assert claim in page_text("docs/results.md")
    assert (r.rise > 0).all() and f"{r.rise.median():.3f}" == "0.033"
