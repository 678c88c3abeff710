"""Own fast networks against the pretrained references on the same held-out photos (issue 18): for each of La Muse,
The Scream and The Shipwreck, nst-bench's network trained with Johnson's recipe, Engstrom's pretrained network,
AdaIN and Magenta (both with the same painting).

    NST_BENCH_WEIGHTS=../shared/weights .venv/bin/python experiments/fast_compare.py --out results/fast/compare

The photos are the 8 that the Johnson configs hold out of training (same split, same seed). Per method, style and
photo: the content check (top-5 agreement, SSIM, LPIPS, identified: whether the output's LPIPS-nearest held-out
photo is its own, and identified_local, the same per tile of a 4 x 4 grid; collapsed when either is below 0.75 x
AdaIN's), the Gram
distance to the painting on two networks (VGG-16, which nst-bench's networks trained on, and Gatys' VGG19, the
family Engstrom's trained on; neither side is scored only on its own), the Johnson objective's content and style
terms, and seconds per image (median of 5 passes at 256 px after 2 warm-up passes). Writes ``compare.csv``
(one row per method, style and photo), ``compare_summary.csv`` (means per method and style) and ``grid.jpg``
(the photos, then one row per method and style). A network that is not on this machine (own networks not yet
trained; Engstrom's weights kept elsewhere) is left out and named in the output.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

from nst_bench.config import load_config
from nst_bench.data.images import load_image, save_image
from nst_bench.losses.style_distance import gram_distance, reference_encoder, style_grams
from nst_bench.methods.common import perceptual_objective, set_style_targets
from nst_bench.methods.registry import get_method
from nst_bench.nets.backbones import build_backbone
from nst_bench.nets.classifier import imagenet_classifier
from nst_bench.nets.content_check import ContentCheck
from nst_bench.recipes.training import photo_split, sample_photos
from nst_bench.run.cache import ProcessCache

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT.parent / "shared" / "weights" / "fast_style_transfer"
STYLES = {"la_muse": "la_muse", "the_scream": "scream", "shipwreck": "wreck"}  # painting -> Engstrom's folder
SIZE = 256


def methods(style: str, out: Path) -> dict[str, dict]:
    """Config overrides of every method for one painting; those whose network is missing are left out."""
    own = ROOT / "results" / "fast" / style / "net.safetensors"
    engstrom = WEIGHTS / STYLES[style]
    found = {"nst-bench (Johnson recipe)": {"method": "fast", "fast.checkpoint": str(own)} if own.is_file() else None,
             "Engstrom (pretrained)": {"method": "fast", "fast.checkpoint": str(engstrom)}
             if (engstrom / "manifest.json").is_file() else None,
             "AdaIN": {"method": "adain"}, "Magenta": {"method": "magenta"}}
    for name, keys in found.items():
        if keys is None:
            print(f"left out: {name} for {style} (no network at {own if 'nst' in name else engstrom})")
    return {k: v for k, v in found.items() if v is not None}


def timed_pass(stylize, photo: torch.Tensor, style: torch.Tensor) -> float:
    for _ in range(2):
        stylize(photo, [style], [1.0], score=False)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        stylize(photo, [style], [1.0], score=False)
        times.append(time.perf_counter() - t0)
    return sorted(times)[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "fast" / "compare")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    johnson = load_config([str(ROOT / "configs" / "fast" / "la_muse.yaml")], {})
    t = johnson.train
    _, held_out = photo_split(str(ROOT / t.content_dir), t.holdout, johnson.seed, "train.content_dir", t.skip_first,
                              [str(ROOT / d) for d in t.extra_content_dirs])
    photos = sample_photos(held_out, SIZE)
    cache, classifier = ProcessCache(), imagenet_classifier()
    references = {"gram_distance": reference_encoder(), "gram_distance_vgg19": build_backbone("vgg19")}
    rows, tiles, labels = [], [photos], ["photo"]
    for style_name in STYLES:
        painting_path = ROOT.parent / "shared" / "data" / "styles" / f"{style_name}.jpg"
        painting = load_image(painting_path, SIZE)
        targets = {k: style_grams(net, painting) for k, net in references.items()}
        outputs = {}
        objective = None
        for name, keys in methods(style_name, args.out).items():
            cfg = load_config([str(ROOT / "configs" / "fast" / f"{style_name}.yaml")],
                              {"styles": [str(painting_path)], "tracking.wandb": "disabled", **keys})
            method = get_method(cfg.method)
            method.prepare(cfg, cache)
            stylize = method.build(cfg, cache)
            with torch.no_grad():
                outputs[name] = torch.cat([stylize(p[None], [painting], [1.0], score=False).image for p in photos])
            seconds = timed_pass(stylize, photos[:1], painting)
            objective = objective or perceptual_objective(cfg, cache)  # the config's Johnson objective (VGG-16)
            for i, (photo, image) in enumerate(zip(photos, outputs[name])):
                set_style_targets(objective, photo[None], [painting], [1.0])
                with torch.no_grad():
                    terms = objective(image[None])
                rows.append({"style": style_name, "method": name, "photo": held_out[i].name,
                             "content": float(terms["content"]), "style_loss": float(terms["style"]),
                             **{k: gram_distance(net, image[None], targets[k]) for k, net in references.items()},
                             "seconds": seconds})
        check = ContentCheck.build(photos, references=[outputs["AdaIN"]], classifier=classifier)
        for name, images in outputs.items():
            scores = check.per_photo(images)
            collapsed = check.is_collapsed({k: float(v.mean()) for k, v in scores.items()})
            for row in rows:
                if row["style"] == style_name and row["method"] == name:
                    i = [p.name for p in held_out].index(row["photo"])
                    row |= {k: float(v[i]) for k, v in scores.items()}
                    row |= {"collapsed": collapsed, "adain_identified": check.reference["identified"],
                            "adain_identified_local": check.reference["identified_local"]}
            tiles.append(images)
            labels.append(f"{style_name}: {name}")
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out / "compare.csv", index=False)
    summary = frame.groupby(["style", "method"], sort=False).agg(
        top5_agreement=("top5_agreement", "mean"), identified=("identified", "mean"),
        identified_local=("identified_local", "mean"), ssim=("ssim", "mean"),
        lpips=("lpips", "mean"), gram_distance=("gram_distance", "mean"),
        gram_distance_vgg19=("gram_distance_vgg19", "mean"), content=("content", "mean"),
        style_loss=("style_loss", "mean"), seconds=("seconds", "first"), collapsed=("collapsed", "first"),
        photos=("photo", "count")).reset_index()
    summary.to_csv(args.out / "compare_summary.csv", index=False)
    grid(tiles, labels, args.out / "grid.jpg")
    print(summary.to_string(index=False))


def grid(rows: list[torch.Tensor], labels: list[str], path: Path, tile: int = 128) -> None:
    """One row per method (label on the left), one column per held-out photo."""
    small = [torch.nn.functional.interpolate(r, size=(tile, tile), mode="area") for r in rows]
    body = make_grid(torch.cat(small), nrow=len(rows[0]), padding=2, pad_value=1.0)
    save_image(body[None], path)
    image = Image.open(path)
    margin = 170
    sheet = Image.new("RGB", (image.width + margin, image.height), "white")
    sheet.paste(image, (margin, 0))
    draw = ImageDraw.Draw(sheet)
    for r, label in enumerate(labels):
        draw.text((4, 2 + r * (tile + 2) + tile // 2 - 6), label.replace(": ", ":\n"), fill="black")
    sheet.save(path, quality=85)


if __name__ == "__main__":
    main()
