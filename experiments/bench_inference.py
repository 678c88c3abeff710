"""Inference speed of the feed-forward methods against one Gatys run, at 256, 512 and 1024 px on this machine.

    .venv/bin/python experiments/bench_inference.py [--checkpoint results/fast/starry_night/net.safetensors]
        [--sizes 256 512 1024] [--gatys-iterations 10] [--out results/runtime/inference.md]

TransformerNet (the trained network if given, else the same architecture untrained: speed does not depend on
the weights) in float32, float32 channels_last, and bf16 autocast with and without channels_last where the CPU
has native bf16; AdaIN in float32 and bf16; Gatys (normalised VGG19, L-BFGS with line search) timed for
``--gatys-iterations`` iterations after 2 warm-up ones at 512 px, and its 300-iteration time given as
s/iteration x 300 (marked as such). Medians of 5 passes after 2 warm-up passes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from nst_bench.data.images import load_image
from nst_bench.evaluate.runtime import CONTENT, STYLE, bf16_supported, machine, time_feedforward, time_gatys
from nst_bench.methods.adain import AdaIN
from nst_bench.methods.fast import TransformerNet, load_network
from nst_bench.run.trainer import quiet_lightning


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="results/fast/starry_night/net.safetensors")
    ap.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    ap.add_argument("--gatys-size", type=int, default=512)
    ap.add_argument("--gatys-iterations", type=int, default=10)
    ap.add_argument("--out", default="results/runtime/inference.md")
    args = ap.parse_args()
    quiet_lightning()
    trained = Path(args.checkpoint).is_file()
    net = load_network(args.checkpoint)[0] if trained else TransformerNet().eval()
    adain = AdaIN()
    variants = [(False, False), (False, True)] + ([(True, False), (True, True)] if bf16_supported() else [])
    rows = []
    cells = [(size, bf16, cl) for size in args.sizes for bf16, cl in variants]
    for size, bf16, cl in tqdm(cells, desc="feed-forward", unit="cell", disable=None):
        content = load_image(CONTENT, size)
        rows.append(time_feedforward("fast (TransformerNet)", net.stylize, content, bf16=bf16, channels_last=cl,
                                     modules=(net,)))
        if not cl:
            style = load_image(STYLE, size)
            rows.append(time_feedforward("adain", lambda x, s=style: adain(x, [s]), content, bf16=bf16,
                                         modules=(adain,)))
    g = time_gatys("vgg19", args.gatys_size, steps=args.gatys_iterations)
    rows.append({"method": "gatys (vgg19, L-BFGS) x300 iterations*", "size": g["size"], "image": g["image"],
                 "dtype": "float32", "channels_last": False, "s_per_image": g["s_per_image"],
                 "repeats": g["measured_iterations"]})
    df = pd.DataFrame(rows)
    df["ms_per_image"] = df.s_per_image * 1000
    fast512 = df[(df.method.str.startswith("fast")) & (df["size"] == args.gatys_size)].s_per_image.min()
    speedup = g["s_per_image"] / fast512
    m = machine()
    table = df[["method", "size", "image", "dtype", "channels_last", "ms_per_image"]].to_markdown(
        index=False, floatfmt=".1f")
    text = (f"# Inference speed\n\n`.venv/bin/python experiments/bench_inference.py`: {m['cpu']}, {m['threads']} "
            f"threads, torch {m['torch']}; network: {'trained ' + args.checkpoint if trained else 'untrained'} "
            f"(width {net.width}, {net.blocks} blocks). Medians of 5 passes after 2 warm-up passes.\n\n{table}\n\n"
            f"\\* Gatys: {g['measured_iterations']} L-BFGS iterations measured after 2 warm-up ones, "
            f"{g['s_per_iteration']:.2f} s/iteration ({g['evaluations_per_iteration']:.1f} evaluations each), "
            f"x 300 iterations.\n\nAt {args.gatys_size} px the fastest TransformerNet setting takes "
            f"{fast512 * 1000:.0f} ms per image against {g['s_per_image']:.0f} s for a 300-step Gatys run: "
            f"{speedup:,.0f}x faster.\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    df.to_csv(Path(args.out).with_suffix(".csv"), index=False)
    print(text)


if __name__ == "__main__":
    main()
