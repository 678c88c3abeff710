#!/usr/bin/env bash
# The feed-forward study of issue 5, in order (about 2 h on 2 CPU cores; every step resumes if interrupted):
# the Starry Night network, the output-activation sweep, the 3-style network, the comparison with Gatys and
# AdaIN on held-out photos.
# Usage: NST_BENCH_WEIGHTS=../shared/weights bash experiments/fast_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NST=.venv/bin/nst-bench
DATA=../shared/data/imagenet_sample
$NST train fast --config configs/fast/starry_night.yaml --content-dir $DATA
$NST sweep configs/sweeps/fast_outputs.yaml
$NST train fast --config configs/fast/three_styles.yaml --content-dir $DATA
$NST sweep configs/sweeps/fast_vs_gatys.yaml
