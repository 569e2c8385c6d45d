#!/usr/bin/env bash
# Issue 7's GPU figures in one call of the lent machine (../shared/device/README.md), ordered so
# that the most needed come back first if the time limit cuts it short:
#   1. small VGG, 20 epochs, float32: cifar-tui against the bare script (ratio, 79% target);
#   2. the same with train.steps_per_execution = 8 (an unrolled scan on JAX, core/training/scan_steps.py);
#   3. AlexNet's on-device front: the notebook's augmentation order against augment_first;
#   4. AlexNet, 50 epochs, mixed_bfloat16: cifar-tui against the bare script (75% target);
#   5. VGG16, 2 epochs, mixed_bfloat16 (one steady epoch each side).
# Prepare here, once:
#   bash ../shared/device/wheels.sh tomli-w
#   mkdir -p .gpu && cp ../shared/data/cifar10-jpeg.tar.gz .gpu/
#   grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
# Then call the device tool with carry [".whl", ".gpu"] and the command
#   bash benchmarks/gpu.sh
# (timeout_s 600). Each step writes its JSON to $OUT as soon as it has it.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
export CIFAR_TUI_CACHE=/tmp/cifar-tui-cache  # decode the JPEGs once for every step below
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
DATA=.gpu/cifar10-jpeg.tar.gz
nvidia-smi -L | tee "$OUT/device.txt"
python3 -c 'import jax, keras; print("jax", jax.__version__, jax.devices(), "keras", keras.__version__)' \
    | tee -a "$OUT/device.txt"
start=$SECONDS
step() { echo "== $1 (at ${SECONDS}s)"; }

step "small VGG, 20 epochs"
timeout 200 python3 benchmarks/models.py --profiles vgg_small --data $DATA --epochs 20 \
    --baseline --json "$OUT/vgg_small.json"

step "small VGG, 20 epochs, 8 steps per compiled call (cifar-tui only)"
timeout 100 python3 benchmarks/models.py --profiles vgg_small --data $DATA --epochs 20 \
    --set train.steps_per_execution=8 --json "$OUT/vgg_small_spe8.json"

step "AlexNet front: augmentation order"
timeout 60 python3 benchmarks/augment.py --batches 100 --json "$OUT/augment.json"

step "AlexNet, 50 epochs, mixed_bfloat16"
timeout 360 python3 benchmarks/models.py --profiles alexnet --data $DATA --epochs 50 \
    --set train.precision=mixed_bfloat16 --baseline --json "$OUT/alexnet.json"

step "VGG16, 2 epochs, mixed_bfloat16"
left=$((580 - (SECONDS - start)))
[ "$left" -gt 120 ] || { echo "skipped: ${left}s left"; exit 0; }
timeout "$left" python3 benchmarks/models.py --profiles vgg16 --data $DATA \
    --epochs 2 --set train.precision=mixed_bfloat16 --set train.seed=1 --baseline \
    --json "$OUT/vgg16.json"
echo "== done at ${SECONDS}s"
