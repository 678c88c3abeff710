#!/usr/bin/env bash
# Reproduces results/deepdream (about 1 min on 2 CPU cores), then its README.
set -euo pipefail
cd "$(dirname "$0")/.."
for layer in conv3_1 conv5_1; do
  .venv/bin/nst-bench dream --image ../shared/data/content/tubingen.jpg --layers "$layer" --size 384 \
      --out "results/deepdream/$layer"
done
.venv/bin/nst-bench report results/deepdream
