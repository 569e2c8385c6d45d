#!/usr/bin/env bash
# benchmarks/gpu.sh in miniature on this machine, importing as the GPU machine will, so that the
# one device call a session gets is not lost to an import, a path or a missing wheel:
#   - TensorFlow cannot be imported (benchmarks/gpu_machine/sitecustomize.py), and a module from
#     site-packages imports only if the GPU machine has its distribution or the call carries its
#     wheel (../shared/device/wheels.sh's list and gpu.sh's EXTRA_WHEELS);
#   - every step runs on the 1,200-image sample, one short epoch each, with the same scripts,
#     arguments and output files as on the GPU.
# Usage: bash benchmarks/rehearsal.sh [OUT]    (the step files land in OUT, default a temp folder)
# Environment: PYTHON (default python3), GPU_SH_DATA (default ../shared/data/cifar10-mini),
# WHEELS_SH (default ../shared/device/wheels.sh).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
PY=${PYTHON:-python3}
WHEELS_SH=${WHEELS_SH:-../shared/device/wheels.sh}
[ -f "$WHEELS_SH" ] || { echo "rehearsal: no $WHEELS_SH, so no list of the wheels a call carries" >&2; exit 2; }
# The distributions a call carries: wheels.sh's pip download arguments after "-d .whl", then
# gpu.sh's EXTRA_WHEELS, without their version specifiers.
carried=$($PY - "$WHEELS_SH" "$(bash benchmarks/gpu.sh --wheels)" <<'EOF'
import re, shlex, sys

text = open(sys.argv[1]).read().replace("\\\n", " ")
args = shlex.split(text.split("-d .whl", 1)[1].split('"$@"', 1)[0]) + sys.argv[2].split()
print(" ".join(re.split(r"[<>=!~;\[ ]", arg)[0] for arg in args))
EOF
) || exit 2
export GPU_MACHINE_PACKAGES=$carried
export PYTHONPATH=$root/benchmarks/gpu_machine
export GPU_SH_MINI=1 PYTHON=$PY
export OUT=${1:-$(mktemp -d)}
echo "rehearsal: results in $OUT; importable beyond the GPU machine's own: $GPU_MACHINE_PACKAGES"
exec bash benchmarks/gpu.sh

