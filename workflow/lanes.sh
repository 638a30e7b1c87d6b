#!/usr/bin/env bash
# Train a grid's runs as Snakemake jobs from a separate clone at a fixed commit, in lanes of one thread each, in
# the background (the work tree you edit never trains; every run of the grid is made by one commit).
#
#   workflow/lanes.sh [--after PIDFILE] CLONE COMMIT LANE_FILE [LANE_FILE ...]
#
# CLONE: a folder (cloned from this repository if missing, then checked out at COMMIT, refused if it holds
# changes). Each LANE_FILE lists summary paths (results/...summary.json), one a line (# starts a comment), in the
# order to train them (workflow/lanes/budget-*.txt: the budget study, issue 29, at cd68b90; tables-*.txt: the
# batch of the paper's tables, issue 30);
# a lane runs them one after another (`snakemake --cores 1 --nolock TARGET`; the profiles train on one thread),
# skipping those whose summary exists. Stopped lanes resume: start the same command again; a killed job's run
# resumes from its latest checkpoint (the train notebook resumes). Logs: CLONE/lanes/<lane>.log; a failed target
# is logged as "FAILED <target>" and the lane goes on. Each lane writes its loop's pid to CLONE/lanes/<lane>.pid;
# --after PIDFILE holds the lanes of this call until that loop has ended, so that one batch's lane follows another's
# without an idle core: `workflow/lanes.sh --after /work/grid3/lanes/budget-a.pid /work/grid4 e956754
# workflow/lanes/tables-a.txt`. A lane whose target is being made by another snakemake (a lane
# started again, its old loop stopped but its job still running) waits for that job instead of starting a second.
# Finished run records (summary.json, display.json, train_log.jsonl; never executed.ipynb) are copied back into the
# work tree: `(cd CLONE && for s in results/acdc/PROFILE/*/fold1/seed*/summary.json; do d=${s%/*};
# mkdir -p "$OLDPWD/$d"; cp "$d"/{summary.json,display.json,train_log.jsonl} "$OLDPWD/$d/"; done)`.
set -euo pipefail
after=
if [ "${1:-}" = --after ]; then
  [ $# -ge 2 ] && [ -f "$2" ] || {
    echo "error: --after needs the pid file of a running lane (CLONE/lanes/<lane>.pid)" >&2; exit 2; }
  after=$(realpath "$2"); shift 2
fi
[ $# -ge 3 ] || { echo "usage: $0 [--after PIDFILE] CLONE COMMIT LANE_FILE [LANE_FILE ...]" >&2; exit 2; }
clone=$1 commit=$2
shift 2
repo=$(git rev-parse --show-toplevel)
# two calls at once (one a lane, or --after) would check out and set up the same clone together and one would fail
# on git's index.lock: the set-up below holds a lock of this repository's, released before the lanes start
exec 9> "$(git rev-parse --absolute-git-dir)/scribcim-lanes.lock"
flock 9
[ -d "$clone/.git" ] || git clone -q "$repo" "$clone"
if [ -n "$(git -C "$clone" status --porcelain --untracked-files=no)" ]; then
  echo "error: $clone has changes to tracked files: a lane trains a committed state only" >&2; exit 2
fi
git -C "$clone" fetch -q "$repo" "$commit" 2>/dev/null || true
git -C "$clone" checkout -q "$commit"
mkdir -p "$clone/lanes"
make -C "$clone" setup > "$clone/lanes/setup.log" 2>&1 || { echo "error: make setup failed: $clone/lanes/setup.log" >&2; exit 2; }
# every dataset the lanes train must verify first (else each target of a lane fails in seconds, one after another):
# `scribcim fetch DATASET --if-missing` checks $SCRIBCIM_DATA (else CLONE/data) against its checksums, fetching if
# the files are absent
for ds in $(cat "$@" | sed -n 's|^results/\([a-z0-9]*\)/.*|\1|p' | sort -u); do
  (cd "$clone" && .venv/bin/scribcim fetch "$ds" --if-missing >> lanes/setup.log 2>&1) || {
    echo "error: $ds data did not verify (see $clone/lanes/setup.log): set SCRIBCIM_DATA to the folder that holds" \
      "it, or run \`scribcim fetch $ds --data FOLDER\`" >&2; exit 2; }
done
exec 9>&-  # the lanes must not hold the set-up lock
for lane in "$@"; do
  name=$(basename "$lane" .txt)
  cp "$lane" "$clone/lanes/$name.txt"
  (cd "$clone" && nohup bash -c '
    echo $$ > "lanes/$0.pid"
    if [ -n "$1" ]; then
      echo "$(date -u +%FT%TZ) waiting for the lane of $1 to end"
      while kill -0 "$(cat "$1")" 2>/dev/null; do sleep 60; done
    fi
    while read -r target; do
      case $target in "" | "#"*) continue ;; esac
      [ -f "$target" ] && continue
      # a lane started again while an earlier lane still makes this target: wait for it, never make it twice
      while pgrep -f -- "--rerun-incomplete $target" >/dev/null; do sleep 60; done
      [ -f "$target" ] && continue
      echo "$(date -u +%FT%TZ) start $target"
      .venv/bin/snakemake -s workflow/Snakefile --cores 1 --nolock --rerun-incomplete "$target" \
        && echo "$(date -u +%FT%TZ) done $target" || echo "$(date -u +%FT%TZ) FAILED $target"
    done < "lanes/$0.txt"; echo "$(date -u +%FT%TZ) lane $0 empty"' "$name" "$after" >> "lanes/$name.log" 2>&1 &)
  echo "lane $name: $(grep -c '^[^#]' "$lane") targets, log $clone/lanes/$name.log${after:+, after the lane of $after}"
done
