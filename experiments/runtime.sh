#!/usr/bin/env bash
# Reproduces results/runtime (about 30 min on 2 CPU cores), then its README: every runtime number in results/
# comes from this one run of `nst-bench evaluate runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."
export NST_BENCH_WEIGHTS=${NST_BENCH_WEIGHTS:-../shared/weights}
# speed does not depend on the weights: untrained networks of the bundled fast and CycleGAN configs' architectures
nets=$(mktemp -d)
.venv/bin/python experiments/untrained_nets.py "$nets"
.venv/bin/nst-bench evaluate runtime --sizes 256 512 1024 --backbones vgg19 vgg16_tv efficientnet_lite0 \
    --fast-checkpoint "$nets/transformernet_w32_b5.safetensors" \
    --cyclegan-checkpoint "$nets/resnet_generator.safetensors" --out results/runtime \
    --engstrom $(ls -d "$NST_BENCH_WEIGHTS"/fast_style_transfer/*/ 2>/dev/null)
.venv/bin/python experiments/gatys_flops.py
.venv/bin/python experiments/bench_shared_work.py
.venv/bin/nst-bench report results/runtime
