#!/usr/bin/env bash
# The one-pass rows of results/runtime again, with Magenta (arbitrary and 26-style) and Engstrom's three
# pretrained networks (about 6 min on 2 CPU cores): `nst-bench evaluate runtime` without Gatys backbones, into
# results/runtime/one_pass. The full table (Gatys included, about 30 min) is experiments/runtime.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export NST_BENCH_WEIGHTS=${NST_BENCH_WEIGHTS:-../shared/weights}
nets=$(mktemp -d)
.venv/bin/python experiments/untrained_nets.py "$nets"
.venv/bin/nst-bench evaluate runtime --backbones --sizes 256 512 1024 \
    --fast-checkpoint "$nets/transformernet_w32_b5.safetensors" \
    --cyclegan-checkpoint "$nets/resnet_generator.safetensors" --out results/runtime/one_pass \
    --engstrom $(ls -d "$NST_BENCH_WEIGHTS"/fast_style_transfer/*/ 2>/dev/null)
