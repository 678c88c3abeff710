#!/usr/bin/env bash
# Runs the five Gatys results of issue 2 into results/gatys/ (about 15 min on 2 CPU cores).
# Usage: NST_BENCH_WEIGHTS=../shared/weights bash experiments/gatys_foundation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
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
