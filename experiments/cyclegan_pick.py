"""Which of a CycleGAN run's kept generators (``RUN/generators/step_N.safetensors``) to use. In every full run here
the artefacts grew while the learning rate decayed, so the last generator is rarely the best. The rule, from the
held-out scores of every sample step: keep the steps whose 4-pixel grid peak is within ``--peak-ratio`` of the
held-out photos' own and whose content check identifies at least ``--min-identified`` of the tiles, then take the
lowest KID to the artist's held-out paintings. The rule only shortlists: look at that step's sample grid before
using it (dots and mottle have no number yet).

    .venv/bin/python experiments/cyclegan_pick.py results/cyclegan/van_gogh_pixel_decoder
        # prints every step against the rule; writes RUN/chosen.json (step, file, sha256, scores, rule)
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pandas as pd

from nst_bench.recipes.train_cyclegan import kept_generator
from nst_bench.run.metrics import write_json


def shortlist(history: pd.DataFrame, photos_peak: float, peak_ratio: float, min_identified: float) -> pd.DataFrame:
    """``history`` (one row per sample step) with a ``passes`` column; sorted by KID, best first."""
    out = history.assign(passes=(history.grid_peak <= photos_peak * peak_ratio)
                         & (history.identified_local >= min_identified))
    return out.sort_values(["passes", "kid"], ascending=[False, True])


def photos_grid_peak(run: Path) -> float:
    """The held-out photos' own grid peak: ``references.json`` is written when training starts; runs made before
    it have the same scores in ``metrics.json`` once they finish."""
    if (run / "references.json").is_file():
        return json.loads((run / "references.json").read_text())["photos"]["grid_peak"]
    if (run / "metrics.json").is_file():
        return json.loads((run / "metrics.json").read_text())["references"]["photos"]["grid_peak"]
    raise SystemExit(f"{run} has neither references.json nor metrics.json: pass --photos-peak (1.17 for "
                     "landscapes256)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--peak-ratio", type=float, default=1.3, help="grid peak at most this times the photos' own")
    ap.add_argument("--min-identified", type=float, default=0.5, help="identified tiles at least this")
    ap.add_argument("--photos-peak", type=float, help="the photos' grid peak, for a run still training")
    args = ap.parse_args()
    scores = args.run / "val_history.json"
    history = pd.DataFrame(json.loads(scores.read_text()) if scores.is_file() else [])
    if "identified_local" not in history or "grid_peak" not in history:
        raise SystemExit(f"{scores} holds no held-out scores with identified tiles and grid peak: wait for the run's "
                         "first sample step (or retrain a run made before they were scored)")
    peak = args.photos_peak if args.photos_peak is not None else photos_grid_peak(args.run)
    ranked = shortlist(history, peak, args.peak_ratio, args.min_identified)
    print(ranked[["step", "cycle_l1", "kid", "identified_local", "grid_peak", "passes"]].sort_values("step")
          .to_string(index=False, float_format="%.3f"))
    best = ranked.iloc[0]
    if not best.passes:
        raise SystemExit(f"no step of {args.run} passes: grid peak <= {peak * args.peak_ratio:.2f} and identified "
                         f"tiles >= {args.min_identified}; loosen the rule or train differently")
    step = int(best.step)
    path = kept_generator(args.run, step)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: this run kept no generator at step {step}"
                         " (runs before commit 7603a6d kept only the last)")
    chosen = {"step": step, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "scores": {k: float(v) for k, v in best.items() if k not in ("step", "passes")},
              "rule": {"photos_grid_peak": peak, "peak_ratio": args.peak_ratio,
                       "min_identified": args.min_identified, "then": "lowest KID"}}
    write_json(args.run / "chosen.json", chosen)
    print(f"chosen: step {step} ({path}), KID {best.kid:.3f}, grid peak {best.grid_peak:.2f}, "
          f"identified tiles {best.identified_local:.2f}; look at samples/step_{step:06d}.jpg before using it")


if __name__ == "__main__":
    main()
