#!/usr/bin/env bash
# experiments/same_outputs.sh <commit>    (about 2 min on 2 CPU cores)
# Runs one small job of every method (Gatys with two blended styles, two scales and TV; AdaIN; DeepDream; fast
# training + the trained network; CycleGAN training; a Gatys video with the temporal loss) with the code of
# <commit> and with the working tree, then compares final numbers and output bytes. A refactor must print
# "identical" / "same bytes" everywhere.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:?usage: experiments/same_outputs.sh <commit>}
WORK=$(mktemp -d)
git -C "$ROOT" worktree add -q --detach "$WORK/base" "$BASE"
trap 'git -C "$ROOT" worktree remove --force "$WORK/base"; rm -rf "$WORK"' EXIT
export NST_BENCH_WEIGHTS=${NST_BENCH_WEIGHTS:-$ROOT/../shared/weights} NST_BENCH_OFFLINE=1
PY=$ROOT/.venv/bin/python
D=$ROOT/assets/demo
S=$ROOT/../shared/data
jobs() {  # $1 = code root, $2 = output folder
  local run="env PYTHONPATH=$1 $PY -m nst_bench.cli" q="--wandb disabled --no-progress"
  $run stylize --content $D/content/chelsea.jpg --style $D/style/starry_night.jpg $D/style/great_wave.jpg \
      --style-weights 0.7 0.3 --size 96 --steps 12 --scales 0.5 1.0 --tv-weight 10 --out $2/gatys $q
  $run stylize --method adain --alpha 0.6 --content $D/content/chelsea.jpg --style $D/style/starry_night.jpg \
      --size 96 --out $2/adain $q
  $run dream --image $D/content/chelsea.jpg --size 96 --octaves 2 --steps 4 --layers conv3_1 --out $2/dream $q
  $run train fast --style $D/style/starry_night.jpg --content-dir $S/content --steps 4 --crop 64 --batch 2 \
      --size 64 --width 8 --blocks 1 --sample-every 2 --checkpoint-every 2 --holdout 1 --out $2/fast $q
  $run stylize --method fast --checkpoint $2/fast/net.safetensors --content $D/content/chelsea.jpg --size 96 \
      --out $2/fastrun $q
  $run train cyclegan --domain-a $S/content --domain-b $S/artists/hokusai --steps 4 --crop 64 --batch 1 \
      --size 64 --width 8 --blocks 1 --sample-every 2 --checkpoint-every 2 --holdout 1 --out $2/cyclegan $q
  $run clip --photo $D/content/chelsea.jpg --out $2/clip.mp4 --size 64 --seconds 0.5 --fps 8
  $run video --input $2/clip.mp4 --out $2/v/gatys.mp4 --method gatys --style $D/style/starry_night.jpg \
      --size 48 --steps 3 --temporal-weight 100 $q
}
jobs "$WORK/base" "$WORK/old" > "$WORK/old.log" 2>&1
jobs "$ROOT" "$WORK/new" > "$WORK/new.log" 2>&1
"$PY" - "$WORK" <<'PYEOF'
import hashlib, json, sys
work = sys.argv[1]
for run, key in [("gatys", "final"), ("adain", "final"), ("dream", "final"), ("fast", "held_out"),
                 ("fastrun", "final"), ("cyclegan", "held_out"), ("v/gatys", "final")]:
    a, b = (json.load(open(f"{work}/{side}/{run}/metrics.json"))[key] for side in ("old", "new"))
    print(f"{run:9} {key:8}", "identical" if a == b else {k: (a.get(k), b.get(k)) for k in a if a.get(k) != b.get(k)})
for f in ["gatys/stylized.jpg", "adain/stylized.jpg", "dream/stylized.jpg", "fastrun/stylized.jpg",
          "cyclegan/samples.jpg", "v/gatys/frames/00003.png"]:
    h = [hashlib.sha256(open(f"{work}/{side}/{f}", "rb").read()).hexdigest()[:12] for side in ("old", "new")]
    print(f"{f:26}", "same bytes" if h[0] == h[1] else h)
PYEOF
