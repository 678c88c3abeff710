#!/usr/bin/env bash
# The feed-forward studies that use the Starry Night network, in order (about 1 h 40 min on 2 CPU cores; every
# step resumes if interrupted): the Starry Night and 3-style networks on Johnson's recipe (600 steps each), the
# output-activation sweep (3 outputs x 3 seeds), the comparison with Gatys and AdaIN on held-out photos, the
# video rows, and a retention run of the one-pass methods. The networks are not committed (results/**/*.safetensors
# is ignored), so the studies that load one run in the same checkout as its training.
# Usage: NST_BENCH_WEIGHTS=../shared/weights bash experiments/fast_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NST=.venv/bin/nst-bench
export NST_BENCH_WEIGHTS=${NST_BENCH_WEIGHTS:-../shared/weights}
$NST train fast --config configs/fast/starry_night.yaml --set train.steps=600
$NST train fast --config configs/fast/three_styles.yaml --set train.steps=600
$NST sweep configs/sweeps/fast_outputs.yaml
$NST sweep configs/sweeps/fast_vs_gatys.yaml
bash experiments/video_study.sh
# results/fast_retention was made by protocol v1's `evaluate retention` (commit 974be69 and before); the fast
# networks' content retention is now part of results/retention (configs/retention.yaml, protocol v2)
