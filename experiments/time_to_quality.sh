#!/usr/bin/env bash
# Every cell of results/time_to_quality, in the order they were measured (hours on 2 CPU cores; finished cells
# are kept, so running this again only measures what is missing), then the bf16 check and the study page.
set -euo pipefail
cd "$(dirname "$0")/.."
P=.venv/bin/python
T="experiments/time_to_quality.py"
TUB="tubingen x starry_night"
# the levers, on one pair at 256 px
$P $T --sizes 256 --pairs "$TUB" \
    --variant nols optimizer.line_search=null \
    --variant c2f2 "gatys.scales=[0.5,1.0]" "gatys.scale_steps=[200,1]" \
    --variant c2f3 "gatys.scales=[0.25,0.5,1.0]" "gatys.scale_steps=[300,150,1]" \
    --variant c2f2nols "gatys.scales=[0.5,1.0]" "gatys.scale_steps=[200,1]" optimizer.line_search=null \
    --variant c2f2ls10 "gatys.scales=[0.5,1.0]" "gatys.scale_steps=[300,1]" optimizer.line_search_steps=10 \
    --variant c2f3ls10 "gatys.scales=[0.25,0.5,1.0]" "gatys.scale_steps=[300,200,1]" optimizer.line_search_steps=10 \
    --variant pyr4 gatys.pyramid=4 optimizer.line_search=null \
    --variant pyr4c2f gatys.pyramid=4 optimizer.line_search=null "gatys.scales=[0.5,1.0]" "gatys.scale_steps=[150,1]" \
    --variant pyr4ls5 gatys.pyramid=4 optimizer.line_search_steps=5 \
    --variant ls10 optimizer.line_search_steps=10
# what carried over to 512 px
$P $T --sizes 512 --pairs "$TUB" --repeat-reference \
    --variant pyr4 gatys.pyramid=4 optimizer.line_search=null \
    --variant nols_h300 optimizer.line_search=null optimizer.history_size=300 \
    --variant ls10 optimizer.line_search_steps=10
# the other two pairs
$P $T --sizes 256 --pairs "golden_gate x the_scream" "sailboat x la_muse" --variant ls10 optimizer.line_search_steps=10
$P experiments/precision_check.py --size 256 --steps 100
.venv/bin/nst-bench report results/time_to_quality
