"""bf16 against fp32 for Gatys (issue 17): seconds per evaluation and the loss each reaches after the same
iterations, on the time-to-quality objective.

    .venv/bin/python experiments/precision_check.py --size 256 --steps 100 --out results/time_to_quality

``gatys.precision: bf16`` runs the encoder under CPU autocast (Gram matrices and losses in fp32). Both runs take
the same iterations from the same start without a line search; both final losses are evaluated in fp32. The
``cpu_flags`` column says whether the CPU has native bf16 dot products (AVX512-BF16, AMX); without them bf16 is
emulated and slower. Writes ``precision.csv`` and ``precision_{size}.jpg`` (fp32 | bf16) into ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from PIL import Image
from time_to_quality import DATA, PAIRS, ROOT, SAME_OBJECTIVE, load, save_jpeg


def cpu_flags() -> str:
    """The CPU's bf16-relevant instruction sets, from /proc/cpuinfo (empty where it is not Linux)."""
    path = Path("/proc/cpuinfo")
    flags = set(path.read_text().split()) if path.exists() else set()
    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "none"


def run(precision: str, size: int, steps: int, out: Path) -> dict[str, object]:
    from nst_bench.config import load_config
    from nst_bench.methods.common import perceptual_objective
    from nst_bench.methods.gatys import stylize
    from nst_bench.run.cache import ProcessCache

    content_path, style_path = PAIRS[next(iter(PAIRS))]
    content, style = load(str(DATA / content_path), size), load(str(DATA / style_path), size)
    cfg = load_config([], {"content": str(DATA / content_path), "styles": [str(DATA / style_path)],
                           "image.size": size, **SAME_OBJECTIVE, "optimizer.line_search": None,
                           "optimizer.steps": steps, "gatys.precision": precision})
    objective = perceptual_objective(cfg, ProcessCache())
    t0 = time.perf_counter()
    result = stylize(content, [style], [1.0], objective, cfg.gatys, cfg.optimizer, seed=cfg.seed, progress=False)
    seconds = time.perf_counter() - t0
    save_jpeg(result.image, out / f"precision_{size}_{precision}.jpg")
    return {"precision": precision, "size": size, "iterations": result.iterations,
            "evaluations": result.evaluations, "seconds": seconds, "s_per_evaluation": seconds / result.evaluations,
            "loss": result.final["total"], "content": result.final["content"], "style": result.final["style"],
            "cpu_flags": cpu_flags(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "time_to_quality")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([run(p, args.size, args.steps, args.out) for p in ("fp32", "bf16")])
    fp32 = frame.set_index("precision").loc["fp32"]
    frame["loss_vs_fp32"] = frame.loss / fp32.loss - 1
    frame["time_vs_fp32"] = frame.s_per_evaluation / fp32.s_per_evaluation
    frame.to_csv(args.out / "precision.csv", index=False)
    images = [Image.open(args.out / f"precision_{args.size}_{p}.jpg") for p in ("fp32", "bf16")]
    w, h = images[0].size
    sheet = Image.new("RGB", (2 * w + 8, h), "white")
    for i, im in enumerate(images):
        sheet.paste(im, (i * (w + 8), 0))
        (args.out / f"precision_{args.size}_{('fp32', 'bf16')[i]}.jpg").unlink()
    sheet.save(args.out / f"precision_{args.size}.jpg", quality=90)
    print(frame.drop(columns=["cpu_flags"]).to_string(index=False))


if __name__ == "__main__":
    main()
