#!/usr/bin/env bash
# One prepared GPU window (README, "GPU runs and benchmark"), run from the repository root on a GPU
# machine that has torch but no network: carry data/packs/acdc_pack.zip (scribcim pack, 53 MiB).
# Not run yet (no GPU has been lent to this project); each step is resumable or short.
#   1. the fast-path and device-augmentation tests, CUDA cases included
#   2. the benchmark JSON (results/bench/), ratios cim/released, cim/plain, pipeline/step
#   3. a paper-profile cim fold 1 from the pack, resumed from its checkpoint in the next window
set -euo pipefail
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
PACK=${PACK:-data/packs/acdc_pack.zip}
STEP=${STEP:-all}
if [[ $STEP == all || $STEP == tests ]]; then
  python3 -m pytest -q -p no:cacheprovider tests/test_fastpath.py tests/test_device_batches.py
fi
if [[ $STEP == all || $STEP == bench ]]; then
  python3 -m scribcim.cli bench --device cuda --size 256 --batch 6 12 --steps 200 --warmup 30 \
    --pack "$PACK" --bf16 --channels-last --out "results/bench/cuda_$(date +%Y%m%d_%H%M).json"
fi
if [[ $STEP == all || $STEP == fold ]]; then
  # SIGTERM from timeout saves the latest checkpoint; the next window resumes it (--resume)
  timeout --signal=TERM "${FOLD_SECONDS:-420}" python3 -m scribcim.cli train --dataset acdc --method cim \
    --profile paper --fold 1 --device cuda --bf16 --channels-last --device-data --data "$PACK" \
    --resume --no-progress || { rc=$?; [[ $rc == 124 || $rc == 130 ]]; }
fi
