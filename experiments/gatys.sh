#!/usr/bin/env bash
# Reproduces results/gatys: five nst-bench stylize runs on Tubingen at 256 px with today's defaults (about 20 min
# on 2 CPU cores), then its README.
# Usage: NST_BENCH_WEIGHTS=../shared/weights bash experiments/gatys.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export NST_BENCH_WEIGHTS=${NST_BENCH_WEIGHTS:-../shared/weights}
NST=.venv/bin/nst-bench
C=../shared/data/content/tubingen.jpg
S=../shared/data/styles
OUT=results/gatys
$NST stylize --content $C --style $S/starry_night.jpg --size 256 --out $OUT/default_vgg19_lbfgs
$NST stylize --content $C --style $S/starry_night.jpg $S/the_scream.jpg --style-weights 0.5 0.5 --size 256 \
    --out $OUT/blend_starry_night_the_scream
$NST stylize --content $C --style $S/starry_night.jpg --size 256 --optimizer adam --lr 0.02 --out $OUT/adam
$NST stylize --content $C --style $S/starry_night.jpg --size 256 --backbone vgg16_tv --out $OUT/vgg16_tv
$NST stylize --content $C --style $S/starry_night.jpg --size 256 --backbone efficientnet_lite0 \
    --out $OUT/efficientnet_lite0
.venv/bin/python experiments/overview.py $OUT/overview.jpg $OUT/default_vgg19_lbfgs $OUT/blend_starry_night_the_scream \
    $OUT/adam $OUT/vgg16_tv $OUT/efficientnet_lite0
$NST report $OUT
