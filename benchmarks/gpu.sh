#!/usr/bin/env bash
# The GPU figures in one call of the lent machine (../shared/device/README.md), ordered so that
# the most needed come back first if the time limit cuts it short:
#   0. preflight: every import the steps need (a missing wheel stops the call in seconds);
#   1. the notebook's profiler story: alexnet-host (the resize on the CPU, in numpy workers) against
#      alexnet (the on-device front), one epoch each, input-bound % and s/epoch (benchmarks/story.py);
#   2. small VGG, 20 epochs, float32: cifar-tui against the bare script (ratio, 79% target);
#   3. the same with train.steps_per_execution = 8 (an unrolled scan on JAX, core/training/scan_steps.py);
#   4. AlexNet's on-device front: the notebook's augmentation order against augment_first;
#   5. AlexNet, 50 epochs, mixed_bfloat16: cifar-tui against the bare script (75% target);
#   6. VGG16, 2 epochs, mixed_bfloat16 (one steady epoch each side);
#   7. with more than one GPU (skipped otherwise): small VGG on every GPU (train.devices = "all")
#      against one GPU, the same global batch, and the smoke-lr sweep with --parallel <GPUs>;
#      all in multi_gpu.json;
#   8. how busy each model kept the GPU: the system sampler's figures of steps 2, 5 and 6 (every
#      cifar-tui run samples NVML and psutil once a second; models.py keeps them in its JSON) as
#      RESULTS.md's section, in system.md (benchmarks/system_series.py; seconds, no training).
#      Back here: python benchmarks/system_series.py OUT/{vgg_small,alexnet,vgg16}.json \
#                   --append benchmarks/RESULTS.md
# Each step's time limit is cut to what is left of BUDGET seconds, and a step is skipped when less
# is left than it needs. Each step writes its JSON to $OUT as soon as it has it.
#
# Prepare here, once:       bash benchmarks/gpu.sh --prepare   (wheels into .whl/, data into .gpu/)
# Rehearse here, each time: bash benchmarks/rehearsal.sh       (these steps in miniature, importing
#                                                               only what the GPU machine will have)
# Then call the device tool with carry [".whl", ".gpu"], timeout_s 600 and the command
#   bash benchmarks/gpu.sh
set -u
# Wheels a call carries beyond ../shared/device/wheels.sh's own list: the run profile's writer,
# TensorBoard's event writer with what it imports (logs on JAX, core/training/tensorboard.py),
# and the system sampler's psutil and NVML bindings (core/system_metrics.py).
EXTRA_WHEELS="tomli-w absl-py==2.5.1 tensorboard==2.21.0 protobuf==7.36.2 psutil==7.2.2 nvidia-ml-py==13.615.71"
case "${1:-}" in
  --wheels) echo "$EXTRA_WHEELS"; exit 0 ;;
  --prepare)
    mkdir -p .git/info .gpu
    # shellcheck disable=SC2086  # one argument per wheel
    bash ../shared/device/wheels.sh $EXTRA_WHEELS || exit 1
    cp ../shared/data/cifar10-jpeg.tar.gz .gpu/ && exit 0 || exit 1 ;;
esac

PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ "${GPU_SH_MINI:-0}" = 1 ]; then
  # The rehearsal (benchmarks/rehearsal.sh): this machine's packages, TensorFlow blocked, the
  # 1,200-image sample, one short epoch per step.
  DATA=${GPU_SH_DATA:-../shared/data/cifar10-mini} SITE=
  BUDGET=100000 STEP_LIMIT=900
  TINY=(--limit 48 --set train.batch_size=8)
  WINDOW='profiler.batches=[2, 4]'
  AUGMENT=(--batches 2 --rounds 1 --batch 8)
  SMALL_VGG16=(--set model.input_size=32)
  epochs() { echo 1; }
else
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
  SITE=/tmp/site
  DATA=.gpu/cifar10-jpeg.tar.gz
  BUDGET=580 STEP_LIMIT=0
  TINY=()
  WINDOW='profiler.batches=[100, 300]'
  AUGMENT=(--batches 100)
  SMALL_VGG16=()
  epochs() { echo "$1"; }
fi
export PYTHONPATH=${SITE:+$SITE:}$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
# Decode the JPEGs once for every step below.
export CIFAR_TUI_CACHE=${CIFAR_TUI_CACHE:-/tmp/cifar-tui-cache}
start=$SECONDS
step() { echo "== $1 (at ${SECONDS}s)"; }
# The time limit for a step that wants $1 seconds: what is left of the budget, at most.
limit() {
  local left=$((BUDGET - (SECONDS - start)))
  if [ "$STEP_LIMIT" -gt 0 ]; then echo "$STEP_LIMIT"; elif [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
# Run "${@:3}" under a time limit of $1 seconds (cut to the budget), unless under $2 are left.
timed() {
  local seconds
  seconds=$(limit "$1")
  if [ "$seconds" -lt "$2" ]; then echo "skipped: ${seconds}s left"; return 0; fi
  shift 2
  timeout "$seconds" "$@"
}

if command -v nvidia-smi >/dev/null; then nvidia-smi -L; else echo "no nvidia-smi here"; fi \
    | tee "$OUT/device.txt"
step "preflight: the imports every step needs"
$PY -c 'import jax, keras, tomli_w, tensorboard.summary, textual, psutil, pynvml
import core.training.host_pipeline, core.training.tensorboard, tui.cli.main
from core.system_metrics import SystemSampler
s = SystemSampler(); print("system metrics:", s.gpu.names or "; ".join(s.unavailable)); s.stop()
print("jax", jax.__version__, jax.devices(), "keras", keras.__version__)' 2>&1 \
    | tee -a "$OUT/device.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { echo "preflight failed: a wheel is missing (bash benchmarks/gpu.sh --prepare)"; exit 1; }

step "the profiler story: alexnet-host against alexnet, one epoch each"
timed 300 60 $PY benchmarks/story.py --data "$DATA" --epochs 1 ${TINY[@]+"${TINY[@]}"} \
    --set "$WINDOW" --timeout "$(limit 180)" --json "$OUT/story.json"

step "small VGG, 20 epochs"
timed 200 30 $PY benchmarks/models.py --profiles vgg_small --data "$DATA" --epochs "$(epochs 20)" \
    ${TINY[@]+"${TINY[@]}"} --baseline --json "$OUT/vgg_small.json"

step "small VGG, 20 epochs, 8 steps per compiled call (cifar-tui only)"
timed 100 30 $PY benchmarks/models.py --profiles vgg_small --data "$DATA" --epochs "$(epochs 20)" \
    ${TINY[@]+"${TINY[@]}"} --set train.steps_per_execution=8 --json "$OUT/vgg_small_spe8.json"

step "AlexNet front: augmentation order"
timed 60 30 $PY benchmarks/augment.py "${AUGMENT[@]}" --json "$OUT/augment.json"

step "AlexNet, 50 epochs, mixed_bfloat16"
timed 360 30 $PY benchmarks/models.py --profiles alexnet --data "$DATA" --epochs "$(epochs 50)" \
    ${TINY[@]+"${TINY[@]}"} --set train.precision=mixed_bfloat16 --baseline \
    --json "$OUT/alexnet.json"

step "VGG16, 2 epochs, mixed_bfloat16"
timed 580 120 $PY benchmarks/models.py --profiles vgg16 --data "$DATA" --epochs "$(epochs 2)" \
    ${TINY[@]+"${TINY[@]}"} ${SMALL_VGG16[@]+"${SMALL_VGG16[@]}"} \
    --set train.precision=mixed_bfloat16 --set train.seed=1 --baseline --json "$OUT/vgg16.json"
step "more than one GPU: one run on every GPU against one, and a parallel sweep"
GPUS=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' )
if [ "$GPUS" -gt 1 ]; then
  MULTI=/tmp/multi-gpu && mkdir -p "$MULTI"
  BATCH=$((128 * GPUS))  # the global batch, the same on one GPU and on all: the same math
  for devices in 1 all; do
    value=$devices && [ "$devices" = all ] && value='"all"'
    timed 150 40 $PY benchmarks/models.py --profiles vgg_small --data "$DATA" --epochs "$(epochs 5)" \
        ${TINY[@]+"${TINY[@]}"} --set train.batch_size=$BATCH --set "train.devices=$value" \
        --json "$MULTI/devices_$devices.json"
  done
  sweep_start=$SECONDS
  timed 200 40 $PY -m tui.cli.main --sweep profiles/sweeps/smoke-lr.toml --parallel "$GPUS" \
      --runs-dir "$MULTI/runs" --plain > "$MULTI/sweep.txt" 2>&1
  echo "parallel sweep: $((SECONDS - sweep_start)) s" | tee -a "$MULTI/sweep.txt"
  $PY - "$MULTI" "$GPUS" > "$OUT/multi_gpu.json" <<'PY'
import json, pathlib, sys
folder, gpus = pathlib.Path(sys.argv[1]), int(sys.argv[2])
read = lambda name: json.loads((folder / name).read_text()) if (folder / name).exists() else None
sweep = (folder / "sweep.txt").read_text().splitlines() if (folder / "sweep.txt").exists() else []
print(json.dumps({"gpus": gpus, "one_gpu": read("devices_1.json"),
                  "all_gpus": read("devices_all.json"), "parallel_sweep": sweep[-12:]}, indent=1))
PY
else
  echo "left out: it needs more than one GPU, this machine has $GPUS"  # rehearsal: no "skipped"
fi
step "system series: how busy each model kept the GPU (RESULTS.md section)"
$PY benchmarks/system_series.py "$OUT/vgg_small.json" "$OUT/alexnet.json" "$OUT/vgg16.json" \
    --markdown "$OUT/system.md" | head -20
echo "== done at ${SECONDS}s"
