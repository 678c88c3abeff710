#!/usr/bin/env bash
# The video study of issue 8 (about 12 min on 2 CPU cores; the sweep resumes by trial and by frame):
# a 2.5 s zoom-and-pan clip of Tubingen, then configs/sweeps/video.yaml (fast, AdaIN and Gatys, each with and
# without temporal consistency). The fast rows need results/fast/starry_night/net.safetensors
# (experiments/fast_study.sh trains it in the same checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
NST=.venv/bin/nst-bench
[ -f results/video/tubingen_pan.mp4 ] || $NST clip --photo ../shared/data/content/tubingen.jpg \
    --out results/video/tubingen_pan.mp4 --size 256 --seconds 2.5 --fps 24
$NST sweep configs/sweeps/video.yaml
