"""``nst-bench`` command line. A user mistake ends in one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nst_bench.config import CHOICES
from nst_bench.errors import UserError

# flag -> dotted config key; values are parsed and type-checked by nst_bench.config
STYLIZE_FLAGS: dict[str, str] = {
    "content": "content", "style": "styles", "style_weights": "style_blend", "size": "image.size",
    "style_size": "image.style_size", "steps": "optimizer.steps", "optimizer": "optimizer.name",
    "lr": "optimizer.lr", "backbone": "backbone.name", "weights": "backbone.weights",
    "content_layers": "backbone.content_layers", "style_layers": "backbone.style_layers",
    "pooling": "backbone.pooling", "content_weight": "loss.content_weight", "style_weight": "loss.style_weight",
    "tv_weight": "loss.tv_weight", "gram_norm": "loss.gram_norm", "init": "gatys.init",
    "scales": "gatys.scales", "method": "method", "alpha": "adain.alpha", "border": "cyclegan.border",
    "out": "out",
}
RUN_FLAGS = {"seed": "seed", "device": "device", "wandb": "tracking.wandb"}  # added by _add_run_flags


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nst-bench")
    except PackageNotFoundError:  # run from a source tree that is not installed
        import nst_bench

        return nst_bench.__version__


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags every command that runs something shares: seed, device, W&B mode, config files, --set, progress."""
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--wandb", choices=CHOICES["tracking.wandb"], help="W&B mode (default offline)")
    p.add_argument("--config", action="append", default=[], help="YAML config file(s), applied in order")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any config key, dotted")
    p.add_argument("--no-progress", action="store_true")


def _overrides(args: argparse.Namespace, flags: dict[str, str], **implied: Any) -> dict[str, Any]:
    """Config overrides: the flags given (``flags`` maps each to its dotted key), then keys the flags imply,
    then every --set, which wins."""
    from nst_bench.config import parse_override

    out = {key: getattr(args, flag) for flag, key in (flags | RUN_FLAGS).items() if getattr(args, flag) is not None}
    out.update(implied)
    out.update(parse_override(s) for s in args.set)
    return out


def _checkpoint_key(method: str | None) -> str:
    """--checkpoint is the trained network of the method (fast when no --method is given)."""
    from nst_bench.methods.registry import get_method

    key = get_method(method or "fast").checkpoint_key
    if key is None:
        raise UserError(f"--checkpoint is the trained network of a method like fast or cyclegan; {method} has none")
    return key


def _add_stylize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stylize", help="stylize one content image (Gatys optimisation, AdaIN or a fast network)",
                       description="Stylize --content with one or more --style images. Any config key can also "
                                   "come from --config FILE.yaml or --set key=value.")
    p.add_argument("--method", help="gatys (default): optimise "
                   "pixels; adain: one pass of the pretrained AdaIN network; fast, cyclegan: one pass of a trained "
                   "network (--checkpoint)")
    p.add_argument("--checkpoint", help="fast: net.safetensors from `train fast`; cyclegan: generator.safetensors "
                   "from `train cyclegan`")
    p.add_argument("--alpha", type=float, help="AdaIN content-style trade-off in [0, 1] (default 1)")
    p.add_argument("--border", type=int, help="cyclegan: px of the photo mirrored around it while translating, "
                   "cropped off after (default 0; 32 takes out the band the generators paint along the edges)")
    p.add_argument("--content", help="content image")
    p.add_argument("--style", nargs="+", help="one or more style images (fast: optional, the network's own)")
    p.add_argument("--style-weights", nargs="+", type=float, help="blend weight per style image (default equal; "
                   "fast: picks or blends an N-style network's styles)")
    p.add_argument("--size", type=int, help="long side of the output in px (default 512)")
    p.add_argument("--style-size", type=int, help="long side of the style images (default --size)")
    p.add_argument("--steps", type=int, help="iterations per scale (default 300)")
    p.add_argument("--optimizer", choices=CHOICES["optimizer.name"])
    p.add_argument("--lr", type=float)
    p.add_argument("--backbone", help="vgg19 | vgg19_tv | vgg16_tv | efficientnet_lite0 | resnet50 | timm:<name>")
    p.add_argument("--weights", help="explicit checkpoint path for the backbone")
    p.add_argument("--content-layers", nargs="+")
    p.add_argument("--style-layers", nargs="+")
    p.add_argument("--pooling", choices=CHOICES["backbone.pooling"])
    p.add_argument("--content-weight", type=float)
    p.add_argument("--style-weight", type=float)
    p.add_argument("--tv-weight", type=float)
    p.add_argument("--gram-norm", choices=CHOICES["loss.gram_norm"])
    p.add_argument("--init", choices=CHOICES["gatys.init"])
    p.add_argument("--scales", nargs="+", type=float, help="coarse-to-fine fractions, e.g. 0.5 1.0")
    p.add_argument("--preserve-color", action="store_true", help="luminance-only transfer")
    p.add_argument("--out", help="output directory (default results/stylize)")
    _add_run_flags(p)
    p.set_defaults(func=_stylize)


def _stylize(args: argparse.Namespace) -> int:
    from nst_bench.config import load_config
    from nst_bench.methods.registry import get_method
    from nst_bench.recipes.stylize import run

    implied: dict[str, Any] = {_checkpoint_key(args.method): args.checkpoint} if args.checkpoint else {}
    cfg = load_config(args.config, _overrides(args, STYLIZE_FLAGS, **implied))
    if args.preserve_color:  # a key of the method's own section (gatys, adain), whichever method --config chose
        section = getattr(cfg, get_method(cfg.method).sections[0], None)
        if not hasattr(section, "preserve_color"):
            raise UserError(f"--preserve-color applies to gatys and adain, not method {cfg.method}")
        section.preserve_color = True
    metrics = run(cfg, progress=not args.no_progress and sys.stderr.isatty()).as_dict()
    f = metrics["final"]
    speed = (f"{metrics['iterations']} iterations in {metrics['seconds']:.1f} s "
             f"({metrics['s_per_iteration']:.3f} s/it)" if metrics["iterations"] else f"{metrics['seconds']:.2f} s")
    fell = f"; style fell {metrics['style_reduction']:.1f}x" if metrics["style_reduction"] else ""
    terms = " ".join(f"{k} {f[k]:.4g}" for k in ("content", "style", "tv", "activation") if k in f)
    print(f"wrote {cfg.out}/stylized.jpg and metrics.json: {cfg.method}, {speed}; final {terms}{fell}")
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a sweep file (W&B sweep YAML); resumes where it stopped",
                       description="Expand FILE into trials (content x styles x parameter grid), run those not yet in "
                                   "results/<sweep>/runs.jsonl, then write the report and a W&B summary run.")
    p.add_argument("file", help="sweep YAML, e.g. configs/sweeps/backbones.yaml")
    p.add_argument("--dry-run", action="store_true", help="print the trials and their count, run nothing")
    p.add_argument("--max-trials", type=int, help="run at most this many pending trials now")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="join this Ray cluster instead of starting one")
    p.add_argument("--ray-cpus", type=float, help="CPUs per trial (Ray; default: the sweep's ray.cpus, else 1)")
    p.add_argument("--ray-gpus", type=float, help="GPUs per trial (Ray; default: the sweep's ray.gpus, else 0)")
    p.add_argument("--results", default="results", help="results root (default results/)")
    p.add_argument("--wandb", choices=CHOICES["tracking.wandb"], help="W&B mode for every trial")
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from nst_bench.sweeps.runner import pending_trials, run_sweep
    from nst_bench.sweeps.spec import expand, load_sweep
    from nst_bench.sweeps.store import RunsLog

    sweep = load_sweep(args.file)
    root = Path(args.results)
    if args.dry_run:
        trials = expand(sweep, root)
        done = RunsLog(root / sweep.name / "runs.jsonl").done()
        for t in trials:
            seed = f", seed={t.config.seed}" if "seed" in sweep.parameters else ""
            print(f"{t.id}  {'done' if t.id in done else 'todo'}  {t.label}{seed}")
        todo = len(pending_trials(trials, RunsLog(root / sweep.name / "runs.jsonl"), args.retry_failed))
        print(f"{len(trials)} trials in sweep {sweep.name}: {len(trials) - todo} done, {todo} to run")
        return 0
    result = run_sweep(sweep, executor=args.executor, max_trials=args.max_trials, results_root=root,
                       wandb_mode=args.wandb, retry_failed=args.retry_failed, ray_address=args.ray_address,
                       ray_cpus=args.ray_cpus, ray_gpus=args.ray_gpus)
    runs = result["runs"]
    print(f"sweep {sweep.name}: ran {result['ran']} trials now; {int((runs.status == 'ok').sum())} ok, "
          f"{int((runs.status == 'failed').sum())} failed in total; report: {result['html']}")
    return 0


def _add_agent(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", allow_abbrev=False,
                       help="one run of a W&B sweep, as `wandb agent` launches it (a sweep file's command:)",
                       description="Run the setting given as --key=value arguments (W&B's ${args}) "
                       "over the images of FILE, log it to the W&B run the agent created (WANDB_RUN_ID), and keep "
                       "each pair in results/<sweep>/ like `nst-bench sweep` does.")
    p.add_argument("file", help="the sweep file the W&B sweep was created from")
    p.add_argument("--results", default="results", help="results root (default results/)")
    p.add_argument("--wandb", choices=["offline", "online"], help="default: WANDB_MODE, else online under an agent")
    p.set_defaults(func=_agent, takes_extra=True)


def _agent(args: argparse.Namespace) -> int:
    from nst_bench.sweeps.agent import agent_run

    result = agent_run(args.file, args.extra, results_root=Path(args.results), wandb_mode=args.wandb)
    runs = result["runs"]
    print(f"agent run: {len(runs)} pairs, {int((runs.status == 'ok').sum())} ok; W&B run {result['wandb_run_dir']}")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a study's README from its page.md and data; a sweep's tables and plots",
                       description="For each folder: a sweep's tables (md/csv/tex), plots and report.html from its "
                                   "runs.jsonl (when it has one), then README.md from page.md. --check re-renders "
                                   "every page from the committed files and fails if a README differs.")
    p.add_argument("results", nargs="*", help="study folders, e.g. results/backbones (default with --check: "
                                              "every folder of results/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a README differs from its data")
    p.add_argument("--tables-only", action="store_true", help="a sweep's tables and plots, no README")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from nst_bench import pages
    from nst_bench.sweeps.report import format_table, report

    if args.check:
        folders = [Path(f) for f in args.results] or pages.study_folders()
        problems = pages.check(folders)
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{len(problems)} problem(s) in {len(folders)} study pages" if problems else
              f"all {len(folders)} study pages agree with their data")
        return 1 if problems else 0
    if not args.results:
        raise UserError("name a results folder, e.g. nst-bench report results/backbones (or use --check)")
    for folder in map(Path, args.results):
        if (folder / "runs.jsonl").is_file():
            result = report(folder)
            print(format_table(result["table"]).to_markdown(index=False))
            print(f"wrote table.md, table.csv, table.tex, report.html and plots/ in {folder}")
        if not args.tables_only and (folder / "page.md").is_file():
            pages.render(folder)
            print(f"wrote {folder / 'README.md'} from page.md")
        elif not (folder / "runs.jsonl").is_file():
            raise UserError(f"{folder} has neither runs.jsonl (a sweep) nor page.md (a study page)")
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="content retention, style metrics, runtime tables")
    kinds = p.add_subparsers(dest="kind", required=True)
    r = kinds.add_parser("retention", help="content retention of each setting under protocol v2",
                         description="Stylize the classifier's view of every photo of --content with k paintings "
                                     "of each --artist under every setting of SETTINGS, then score top-1/top-5 "
                                     "with an ImageNet classifier that is none of the tested backbones, and the "
                                     "deception rate with an artist classifier that never saw the painting. "
                                     "Resumes like a sweep; scores.jsonl keeps what is scored.")
    r.add_argument("settings", help="settings file, e.g. configs/retention.yaml")
    r.add_argument("--content", required=True, help="labelled photos: <wnid>_*.jpg folder, ImageFolder or CSV")
    r.add_argument("--artist", nargs="+", required=True, type=Path, metavar="FOLDER",
                   help="one folder of paintings per artist (its name is the artist), e.g. "
                        "../shared/data/paintings256/monet ../shared/data/artists/hokusai")
    r.add_argument("--probe-root", nargs="+", type=Path, default=[], metavar="FOLDER",
                   help="folders of artist folders for the artist classifier (the --artist folders always join)")
    r.add_argument("--k", type=int, default=2, help="paintings per photo and artist (default 2, at least 2)")
    r.add_argument("--limit", type=int, help="first N photos only (default: all)")
    r.add_argument("--seed", type=int, default=0, help="the study's seed: paintings drawn, bootstrap resamples")
    r.add_argument("--name", help="results/<name>/ (default: the settings file's name)")
    r.add_argument("--classifier", default="independent",
                   help="independent (resnet50, else efficientnet_lite2: default) | resnet50 | efficientnet_lite2")
    r.add_argument("--results", default="results")
    r.add_argument("--probe-crops", type=int, default=24, help="crops per painting for the artist classifier")
    r.add_argument("--executor", choices=["local", "ray"], default="local")
    r.add_argument("--wandb", choices=CHOICES["tracking.wandb"])
    r.add_argument("--tabulate-only", action="store_true",
                   help="write the tables from what scores.jsonl holds; stylize nothing (a setting still running "
                        "enters with the stylizations it has)")
    r.set_defaults(func=_retention)
    t = kinds.add_parser("runtime", help="seconds per iteration and per image at several sizes")
    t.add_argument("--backbones", nargs="*", default=["vgg19", "vgg16_tv", "efficientnet_lite0"],
                   help="Gatys backbones to time; none (a bare --backbones) times the one-pass methods only")
    t.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    t.add_argument("--steps", type=int, default=5, help="Gatys: iterations per timed run (after 2 warm-up ones)")
    t.add_argument("--repeats", type=int, default=3, help="timed runs per Gatys cell (one-pass methods: at least 5)")
    t.add_argument("--fast-checkpoint", help="also time this trained network (net.safetensors)")
    t.add_argument("--cyclegan-checkpoint", help="also time this CycleGAN generator (generator.safetensors)")
    t.add_argument("--engstrom", nargs="+", default=[], metavar="FOLDER",
                   help="also time Engstrom's pretrained networks (folders with manifest.json)")
    t.add_argument("--out", default="results/runtime", help="writes runtime.md and runtime.csv here")
    t.set_defaults(func=_runtime)


def _retention(args: argparse.Namespace) -> int:
    from nst_bench.evaluate.retention import RetentionStudy, run_retention

    study = RetentionStudy(Path(args.settings), Path(args.content), args.artist, args.probe_root, k=args.k,
                           seed=args.seed, classifier=args.classifier, results_root=Path(args.results),
                           name=args.name, limit=args.limit)
    study.probe["crops"] = args.probe_crops
    result = run_retention(study, executor=args.executor, wandb_mode=args.wandb, stylize=not args.tabulate_only)
    pooled = result["table"].drop_duplicates("setting", keep="last")
    print(pooled[["setting", "artist", "photos", "images", "top1", "top1_lo", "top1_hi", "deception"]]
          .to_markdown(index=False, floatfmt=".3f"))
    print(f"wrote {study.out}/retention.csv, paired.csv, deception.csv, scores.jsonl, plots/")
    return 0


def _runtime(args: argparse.Namespace) -> int:
    from nst_bench.evaluate.runtime import machine, runtime_table
    from nst_bench.run.trainer import quiet_lightning

    quiet_lightning()
    table = runtime_table(args.backbones, args.sizes, args.steps, repeats=args.repeats,
                          fast_checkpoint=args.fast_checkpoint, cyclegan_checkpoint=args.cyclegan_checkpoint,
                          engstrom=args.engstrom)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "runtime.csv", index=False)
    m = machine()
    shown = table.reindex(columns=["method", "size", "image", "dtype", "s_per_iteration", "evaluations_per_iteration",
                                   "s_per_image", "s_per_image_iqr"]).to_markdown(index=False, floatfmt=".3g")
    gatys = (f"Gatys: median over {args.repeats} runs of {args.steps} L-BFGS iterations after 2 warm-up ones, per "
             "image = s/iteration x 300; " if args.backbones else "one-pass methods only; ")
    text = (f"`nst-bench evaluate runtime --sizes {' '.join(map(str, args.sizes))}`: {m['device']} ({m['cpu']}), "
            f"{m['threads']} threads, torch {m['torch']}. {gatys}one-pass methods: median over "
            f"{max(args.repeats, 5)} passes after 2 warm-up ones; IQR = interquartile range\n\n{shown}\n")
    (out / "runtime.md").write_text(f"# Runtime\n\n{text}")
    print(text)
    return 0


TRAIN_FLAGS: dict[str, str] = {  # flags of every `train` command
    "crop": "train.crop", "batch": "train.batch", "steps": "train.steps", "sample_every": "train.sample_every",
    "checkpoint_every": "train.checkpoint_every", "holdout": "train.holdout", "precision": "train.precision",
    "size": "image.size", "out": "out", "threads": "threads",
}
FAST_FLAGS: dict[str, str] = {
    "style": "styles", "content_dir": "train.content_dir", "lr": "train.lr", "width": "fast.width",
    "blocks": "fast.blocks", "output": "fast.output", "style_weight": "loss.style_weight",
    "content_weight": "loss.content_weight", "tv_weight": "loss.tv_weight", "backbone": "backbone.name",
    "style_size": "image.style_size",
}
CYCLEGAN_FLAGS: dict[str, str] = {
    "domain_a": "cyclegan.domain_a", "domain_b": "cyclegan.domain_b", "lr": "cyclegan.lr",
    "width": "cyclegan.width", "blocks": "cyclegan.blocks", "upsample": "cyclegan.upsample",
    "d_lr": "cyclegan.d_lr", "d_spectral_norm": "cyclegan.d_spectral_norm", "g_antialias": "cyclegan.g_antialias",
    "g_norm": "cyclegan.g_norm", "g_ema": "cyclegan.g_ema", "g_skip": "cyclegan.g_skip",
    "g_noise": "cyclegan.g_noise",
    "d_blur_input": "cyclegan.d_blur_input", "lambda_cycle": "cyclegan.lambda_cycle",
    "lambda_identity": "cyclegan.lambda_identity", "d_features": "cyclegan.d_features",
    "d_features_on": "cyclegan.d_features_on", "lambda_grid": "cyclegan.lambda_grid",
    "grid_tolerance": "cyclegan.grid_tolerance", "d_augment": "cyclegan.d_augment",
    "lambda_regular": "cyclegan.lambda_regular", "regular_tolerance": "cyclegan.regular_tolerance",
}


def _add_train_flags(p: argparse.ArgumentParser, steps: int, batch: int, crop: int) -> None:
    p.add_argument("--crop", type=int, help=f"random crop side, px (default {crop})")
    p.add_argument("--batch", type=int, help=f"crops per step (default {batch})")
    p.add_argument("--steps", type=int, help=f"training steps in all (default {steps})")
    p.add_argument("--sample-every", type=int, help="steps between held-out sample grids (default 100)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 100)")
    p.add_argument("--holdout", type=int, help="photos kept out of training for samples (default 4)")
    p.add_argument("--precision", choices=CHOICES["train.precision"], help="bf16-mixed: bf16 autocast (default 32)")
    p.add_argument("--size", type=int, help="side of the held-out samples (and fast: of the style image)")
    p.add_argument("--out", help="output directory")
    p.add_argument("--threads", type=int)
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start again")
    _add_run_flags(p)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a feed-forward network (fast) or a CycleGAN")
    kinds = p.add_subparsers(dest="kind", required=True)
    f = kinds.add_parser("fast", help="Johnson TransformerNet; several --style images make an N-style network",
                         description="Train on random crops of the photos in --content-dir against the Gatys "
                                     "objective. Resumes from OUT/checkpoints/last.ckpt when it exists.")
    f.add_argument("--style", nargs="+", help="style image(s); N images train one conditional-IN network")
    f.add_argument("--content-dir", help="folder of training photos (COCO for real use)")
    f.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    f.add_argument("--width", type=int, help="channels of the first layer (default 32)")
    f.add_argument("--blocks", type=int, help="residual blocks (default 5)")
    f.add_argument("--output", choices=CHOICES["fast.output"], help="output activation (default sigmoid)")
    f.add_argument("--style-weight", type=float)
    f.add_argument("--content-weight", type=float)
    f.add_argument("--tv-weight", type=float)
    f.add_argument("--backbone")
    f.add_argument("--style-size", type=int)
    _add_train_flags(f, steps=2000, batch=4, crop=256)
    f.set_defaults(func=_train, flags=FAST_FLAGS, method="fast", recipe="nst_bench.recipes.train_fast",
                   network="net.safetensors", run_name=_fast_run_name)
    c = kinds.add_parser("cyclegan", help="unpaired photo <-> artist translation (CycleGAN)",
                         description="Train on random crops and flips of --domain-a photos and --domain-b paintings. "
                                     "Resumes from OUT/checkpoints/last.ckpt when it exists.")
    c.add_argument("--domain-a", help="photo folder")
    c.add_argument("--domain-b", help="the artist's paintings, e.g. ../shared/data/artists/van_gogh")
    c.add_argument("--lr", type=float, help="Adam learning rate (default 2e-4)")
    c.add_argument("--width", type=int, help="generator channels (default 64)")
    c.add_argument("--blocks", type=int, help="generator residual blocks (default 9)")
    c.add_argument("--upsample", choices=CHOICES["cyclegan.upsample"],
                   help="generator x2 upsampling: transposed conv (the paper, default) or a resize + conv")
    c.add_argument("--d-lr", type=float, help="discriminators' learning rate (default: --lr)")
    c.add_argument("--d-spectral-norm", action="store_true", default=None,
                   help="spectral norm on the discriminators' convs")
    c.add_argument("--g-antialias", action="store_true", default=None,
                   help="blur before the generators' stride-2 convs and after their x2 upsampling")
    c.add_argument("--g-norm", choices=CHOICES["cyclegan.g_norm"],
                   help="generators' normalisation: instance (default), pixel, or pixel in the upsampling only")
    c.add_argument("--g-ema", type=float, help="score and save a moving average of the generators with this decay "
                   "(e.g. 0.999; default 0: the trained weights)")
    c.add_argument("--g-skip", action="store_true", default=None,
                   help="generators add their output to the photo: they start as the identity and learn the change")
    c.add_argument("--g-noise", action="store_true", default=None,
                   help="per-pixel noise, scaled per channel, in the generators' upsampling blocks")
    c.add_argument("--d-blur-input", action=argparse.BooleanOptionalAction, default=None,
                   help="with cyclegan.d_antialias: blur the image before the discriminators' first conv (default yes)")
    c.add_argument("--d-features", choices=CHOICES["cyclegan.d_features"],
                   help="discriminators read pixels (none, default) or frozen VGG16 relu4_3 features (vgg16; "
                   "vgg16_avg: with average pooling)")
    c.add_argument("--d-augment", choices=CHOICES["cyclegan.d_augment"],
                   help="discriminators read randomly shifted (and cut-out) images, real and fake (default none)")
    c.add_argument("--d-features-on", choices=CHOICES["cyclegan.d_features_on"],
                   help="with --d-features: both discriminators (default) or only the paintings' (the photos' "
                   "reads pixels)")
    c.add_argument("--lambda-cycle", type=float, help="weight of the L1 cycle loss (default 10)")
    c.add_argument("--lambda-grid", type=float,
                   help="weight of a penalty on the 4-pixel grid in the generators' outputs (default 0: off)")
    c.add_argument("--grid-tolerance", type=float,
                   help="with --lambda-grid: the lattice power ratio left unpenalised (default 1; photos ~1)")
    c.add_argument("--lambda-regular", type=float,
                   help="weight of a penalty on regular fine texture at any period (default 0: off)")
    c.add_argument("--regular-tolerance", type=float,
                   help="with --lambda-regular: the texture rebound left unpenalised (default 0.14, the paintings')")
    c.add_argument("--lambda-identity", type=float,
                   help="identity loss weight, relative to --lambda-cycle (default 0.5; 0 turns it off)")
    _add_train_flags(c, steps=2000, batch=4, crop=256)
    c.set_defaults(func=_train, flags=CYCLEGAN_FLAGS, method="cyclegan", recipe="nst_bench.recipes.train_cyclegan",
                   network="generator.safetensors", run_name=_cyclegan_run_name)


def _fast_run_name(cfg: Any) -> str:

    return "+".join(Path(s).stem for s in cfg.styles)


def _cyclegan_run_name(cfg: Any) -> str:

    return Path(cfg.cyclegan.domain_b or "artist").name


def _train(args: argparse.Namespace) -> int:
    """Both training commands: config from flags and files, a folder of its own (results/<kind>/<name>), the
    recipe, one line of held-out numbers."""
    import importlib

    from nst_bench.config import RunConfig, load_config

    defaults = {"method": args.method, "image": {"size": 256}}
    cfg = load_config(args.config, _overrides(args, TRAIN_FLAGS | args.flags), defaults=defaults)
    if cfg.out == RunConfig.out:  # the stylize default
        cfg.out = str(Path("results") / args.method / args.run_name(cfg))
    train = importlib.import_module(args.recipe).train
    m = train(cfg, progress=not args.no_progress and sys.stderr.isatty(), resume=not args.fresh).as_dict()
    held_out = ", ".join(f"{k} {v:.4g}" for k, v in m["held_out"].items())
    print(f"wrote {cfg.out}/{args.network} after {m['steps']} steps ({m['seconds'] or 0:.0f} s of training); "
          f"held-out {held_out}; samples: {cfg.out}/samples.jpg")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a fast network or AdaIN to TorchScript (.pt) or ONNX (.onnx)",
                       description="The export is loaded back and run at another input size; the largest "
                                   "difference from the eager model is printed.")
    p.add_argument("--method", required=True, help="fast (with --checkpoint) or adain")
    p.add_argument("--checkpoint", help="fast: net.safetensors from `nst-bench train fast`")
    p.add_argument("--out", required=True, help="output file: .pt for TorchScript, .onnx for ONNX")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from nst_bench.recipes.export import export

    r = export(args.method, args.out, args.checkpoint)
    print(f"wrote {r['path']} ({r['format']}, {r['bytes'] / 1e6:.1f} MB) in {r['seconds']:.1f} s; re-run at "
          f"{r['check_shape']}: max |exported - eager| = {r['max_abs_diff']:.2g}")
    return 0


VIDEO_FLAGS = {"input": "video.input", "method": "method", "alpha": "adain.alpha", "style": "styles",
               "style_weights": "style_blend", "size": "image.size", "steps": "optimizer.steps",
               "max_frames": "video.max_frames", "temporal_weight": "video.temporal_weight", "blend": "video.blend",
               "flow": "video.flow", "backbone": "backbone.name", "style_weight": "loss.style_weight",
               "content_weight": "loss.content_weight"}


def _add_video(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="stylize a video frame by frame, optionally temporally consistent",
                       description="Stylize every frame of --input and write --out (.mp4 at the source frame rate) "
                                   "with its working folder beside it (frames/, metrics.json, strip.jpg, W&B). "
                                   "Reports the temporal warping error next to the content clip's. Resumes after "
                                   "the last finished frame.")
    p.add_argument("--input", required=True, help="the clip (.mp4, .mov, .avi, .webm)")
    p.add_argument("--out", required=True, help="output video, e.g. results/video/fast.mp4")
    p.add_argument("--method", help="gatys | adain | fast | cyclegan (default gatys)")
    p.add_argument("--checkpoint", help="fast: net.safetensors; cyclegan: generator.safetensors")
    p.add_argument("--style", nargs="+", help="style image(s) (fast, cyclegan: optional, the network's own)")
    p.add_argument("--style-weights", nargs="+", type=float)
    p.add_argument("--alpha", type=float, help="AdaIN content-style trade-off")
    p.add_argument("--size", type=int, help="long side of the frames in px (default 512)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--steps", type=int, help="gatys: iterations per frame")
    p.add_argument("--temporal-weight", type=float, help="gatys: temporal loss weight (0 = frames independent)")
    p.add_argument("--blend", type=float, help="feed-forward: share of the warped previous output, in [0, 1)")
    p.add_argument("--flow", choices=CHOICES["video.flow"])
    p.add_argument("--backbone")
    p.add_argument("--style-weight", type=float)
    p.add_argument("--content-weight", type=float)
    _add_run_flags(p)
    p.set_defaults(func=_video)
    c = sub.add_parser("clip", help="make a test clip: a slow zoom and pan over one photo",
                       description="Write a short .mp4 of a photo with a slow zoom and sideways pan, for video "
                                   "studies when no footage is at hand.")
    c.add_argument("--photo", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--size", type=int, default=256, help="long side of the frames (default 256)")
    c.add_argument("--seconds", type=float, default=3.0)
    c.add_argument("--fps", type=float, default=24.0)
    c.add_argument("--zoom", type=float, default=1.25, help="zoom at the last frame (default 1.25)")
    c.add_argument("--pan", type=float, default=0.5, help="sideways drift, 0 (none) to 0.5 (edge to edge)")
    c.set_defaults(func=_clip)


def _video(args: argparse.Namespace) -> int:
    from nst_bench.config import load_config
    from nst_bench.recipes.video import run_video

    out = Path(args.out)
    if out.suffix.lower() != ".mp4":
        raise UserError(f"--out {out} must end in .mp4 (its working files go to {out.with_suffix('')}/)")
    implied = {"out": str(out.with_suffix(""))} | ({_checkpoint_key(args.method): args.checkpoint}
                                                   if args.checkpoint else {})
    cfg = load_config(args.config, _overrides(args, VIDEO_FLAGS, **implied))
    m = run_video(cfg, progress=not args.no_progress and sys.stderr.isatty(), video_path=out).as_dict()
    f = m["final"]
    print(f"wrote {out} ({m['frames']} frames, {m['s_per_frame']:.2f} s/frame) and {cfg.out}/: warping error "
          f"{f['warping_error']:.5f} vs the content clip's {f['content_warping_error']:.5f} "
          f"({f['warping_ratio']:.1f}x)")
    return 0


def _clip(args: argparse.Namespace) -> int:
    from nst_bench.data.video_io import pan_zoom_clip, write_video

    frames = pan_zoom_clip(args.photo, args.size, args.seconds, args.fps, args.zoom, args.pan)
    path = write_video(frames, args.out, args.fps)
    print(f"wrote {path}: {len(frames)} frames of {frames[0].shape[-1]}x{frames[0].shape[-2]} at {args.fps:g} fps")
    return 0


DREAM_FLAGS = {"image": "content", "layers": "dream.layers", "octaves": "dream.octaves",
               "octave_scale": "dream.octave_scale", "jitter": "dream.jitter", "steps": "optimizer.steps",
               "lr": "optimizer.lr", "backbone": "backbone.name", "weights": "backbone.weights", "size": "image.size",
               "out": "out"}


def _add_dream(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dream", help="DeepDream: gradient ascent on a layer's activations, octave by octave",
                       description="Amplify what LAYERS of a backbone respond to in --image: normalised-gradient "
                                   "ascent with random jitter, from the smallest octave up to --size.")
    p.add_argument("--image", required=True)
    p.add_argument("--layers", nargs="+", help="layers to excite (default: the backbone's content layer)")
    p.add_argument("--octaves", type=int, help="number of image sizes (default 4)")
    p.add_argument("--octave-scale", type=float, help="size ratio between octaves (default 1.4)")
    p.add_argument("--steps", type=int, help="ascent steps per octave (default 20)")
    p.add_argument("--lr", type=float, help="step in pixels of [0, 1] per unit mean gradient (default 0.01)")
    p.add_argument("--jitter", type=int, help="random roll in px before each step (default 32)")
    p.add_argument("--backbone", help="vgg19 (default) | vgg16_tv | efficientnet_lite0 | resnet50 | timm:<name>")
    p.add_argument("--weights", help="explicit checkpoint path for the backbone")
    p.add_argument("--size", type=int, help="long side in px (default 512)")
    p.add_argument("--out", help="output directory (default results/dream)")
    _add_run_flags(p)
    p.set_defaults(func=_dream)


def _dream(args: argparse.Namespace) -> int:
    from nst_bench.config import load_config
    from nst_bench.recipes.stylize import run

    defaults = {"method": "deepdream", "out": "results/dream", "optimizer": {"name": "sgd", "steps": 20}}
    cfg = load_config(args.config, _overrides(args, DREAM_FLAGS), defaults)
    m = run(cfg, progress=not args.no_progress and sys.stderr.isatty()).as_dict()
    print(f"wrote {cfg.out}/stylized.jpg: {'+'.join(m['layers'])} of {cfg.backbone.name}, {m['iterations']} steps "
          f"over octaves {[f'{w}x{h}' for h, w in m['octave_sizes']]} in {m['seconds']:.1f} s; mean squared "
          f"activation {m['initial']['activation']:.4g} -> {m['final']['activation']:.4g} "
          f"({m['activation_rise']:.1f}x)")
    return 0


def _add_weights(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="list every known network and where its weights come from")
    p.set_defaults(func=_weights)


def _weights(args: argparse.Namespace) -> int:
    import nst_bench.nets.depth  # noqa: F401  (registers the depth networks' weights)
    from nst_bench.nets.weights import status, weights_dir

    rows = status()
    print(f"weights directory: {weights_dir()} (set NST_BENCH_WEIGHTS to change it)")
    width = max(len(r["network"]) for r in rows)
    for r in rows:
        print(f"{r['network']:<{width}}  {r['status']:<8} {r['source']:<38} {r['path']}")
    missing = [r["network"] for r in rows if r["status"] == "MISSING"]
    if missing:
        print(f"missing here: {', '.join(missing)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nst-bench", description="Neural style transfer benchmark harness",
                                     allow_abbrev=False)  # an agent's --key=value must never match a flag
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"nst-bench {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_stylize(sub)
    _add_sweep(sub)
    _add_agent(sub)
    _add_report(sub)
    _add_evaluate(sub)
    _add_train(sub)
    _add_export(sub)
    _add_weights(sub)
    _add_video(sub)
    _add_dream(sub)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except UserError as e:
        if args.verbose:
            raise
        print(f"nst-bench: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except KeyboardInterrupt:
        print("nst-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
