#!/usr/bin/env bash
# Issue 18's comparison, in order (about 2 h on 2 CPU cores; every training resumes if interrupted): nst-bench's
# networks for La Muse, The Scream and The Shipwreck (Johnson's recipe; 1,000, 600 and 800 steps, as this
# session's time allowed), then the comparison with Engstrom's pretrained networks, AdaIN and Magenta on the 8
# held-out photos (results/fast/compare).
# Usage: NST_BENCH_WEIGHTS=../shared/weights bash experiments/fast_references.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for run in la_muse:1000 the_scream:600 shipwreck:800; do
  .venv/bin/nst-bench train fast --config "configs/fast/${run%:*}.yaml" --set train.steps="${run#*:}"
done
.venv/bin/python experiments/fast_compare.py --out results/fast/compare
