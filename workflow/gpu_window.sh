#!/usr/bin/env bash
# One prepared GPU window (docs/gpu.md): run from the repository root of the carried tree on a GPU
# machine that has torch but no network. Carry (make gpu-carry): data/packs/acdc_pack.zip, 53 MiB
# (scribcim pack; results/bench/acdc_pack_j2k.json) and carry/wheels/ (medpy, which the GPU image lacks).
# Each step is short or resumable:
#   1. tests   the fast-path, device-augmentation, packed-training tests (CUDA cases included)
#   2. bench   results/bench/<device>_<date>.json: cim / released step, cim / plain step, pipeline / step
#   3. grid    the comparison's GPU runs (profile gpu10k, methods x seeds) trained side by side
#              (scribcim.training.packed), stopped and checkpointed at GRID_SECONDS, resumed by the next window;
#              finished runs are evaluated into results/acdc/gpu10k/; packed slices/s into results/bench/
# DRY=1 runs the same steps on the CPU at a tiny size (phantom data, smoke profile): what CI checks.
set -euo pipefail
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
for w in carry/wheels/*.whl; do [[ -e $w ]] && PYTHONPATH="$PYTHONPATH:$PWD/$w"; done
PY=${PY:-python3}
STEP=${STEP:-all}
OUT=${OUT:-results/bench}
STAMP=$(date +%Y%m%d_%H%M)
if [[ ${DRY:-0} == 1 ]]; then
  DEVICE=cpu; PACK_ARGS=(); PROFILE=smoke; METHODS=${METHODS:-"cim pce_selfdice"}; SEEDS=${SEEDS:-"1 2"}
  SET=(dataset=phantom device=cpu device_data=true num_threads=1 progress=false
       runs_root="${RUNS_ROOT:-runs}" results_root="${RESULTS_ROOT:-results}")
  BENCH=(--size 32 --batch 2 --steps 2 --warmup 1 --pipeline-batches 2)
  TESTS=(tests/test_packed.py -k "refuses or grid_configs")
else
  DEVICE=cuda; PACK=${PACK:-data/packs/acdc_pack.zip}; PACK_ARGS=(--pack "$PACK"); PROFILE=${PROFILE:-gpu10k}
  METHODS=${METHODS:-"cim pce_selfdice"}; SEEDS=${SEEDS:-"2022 2023 2024 2025"}
  SET=(data_root="$PACK" progress=false)
  BENCH=(--size 256 --batch 6 12 --steps 200 --warmup 30 --bf16 --channels-last)
  TESTS=(tests/test_fastpath.py tests/test_device_batches.py tests/test_packed.py tests/test_seeds.py)
fi
mkdir -p "$OUT"
if [[ $STEP == all || $STEP == tests ]]; then
  $PY -m pytest -q -p no:cacheprovider "${TESTS[@]}"
fi
if [[ $STEP == all || $STEP == bench ]]; then
  $PY -m scribcim.cli bench --device "$DEVICE" --mode steps "${BENCH[@]}" "${PACK_ARGS[@]}" --out "$OUT/${DEVICE}_$STAMP.json"
fi
if [[ $STEP == all || $STEP == grid ]]; then
  # shellcheck disable=SC2086
  $PY -m scribcim.training.packed --profile "$PROFILE" --methods $METHODS --seeds $SEEDS --set "${SET[@]}" \
    --deadline-s "${GRID_SECONDS:-360}" --report "$OUT/${DEVICE}_packed_$STAMP.json"
fi
