"""The sweep spec: a sweep file (W&B sweep YAML) -> trials with stable ids (the runner runs them, the store
keeps their results).

A sweep file is a W&B sweep config: ``method: grid|random``, ``metric``, and ``parameters`` whose names are dotted
config keys. Two parameters are images: ``content`` and ``styles``, whose values may be files, folders or globs
(each match becomes its own trial; a list value for ``styles`` is one multi-style trial). Images are crossed with
the parameter grid. A trial's id is a hash of its resolved config, so re-running a sweep finds what is done.
"""

from __future__ import annotations

import glob
import itertools
import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_bench.config import RunConfig, config_hash, from_dict, read_yaml, set_dotted, to_dict, validate
from nst_bench.data.images import IMAGE_SUFFIXES
from nst_bench.errors import UserError
from nst_bench.methods.registry import get_method, method_names
from nst_bench.nets.weights import sha256
from nst_bench.recipes import PROGRAMS, Program, get_program

SWEEP_KEYS = {"name", "description", "method", "metric", "parameters", "recipe", "program", "command", "run_cap",
              "early_terminate", "project", "entity"}
IMAGE_PARAMS = ("content", "styles", "pairs")
RESOURCE_PARAMS = ("ray.cpus", "ray.gpus")  # per-trial Ray resources, e.g. ray.gpus: {value: 1}
# replicates, not settings: `seed: {values: [0, 1, 2]}` runs every setting once per seed, and the table gives the
# mean ± std over the seeds in one row per setting
REPLICATE_PARAMS = ("seed",)


@dataclass
class Trial:
    id: str
    config: RunConfig
    params: dict[str, Any]  # the swept values (dotted key -> value), plus content/style names
    program: str = "stylize"  # what it runs: a name in nst_bench.recipes.PROGRAMS

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={short_value(v)}" for k, v in self.params.items())


@dataclass
class Sweep:
    name: str
    path: Path
    method: str
    metric: dict[str, str]
    parameters: dict[str, dict[str, Any]]
    run_cap: int | None
    seed: int
    program: str = "stylize"
    swept: list[str] | None = None  # fixed swept keys (one W&B agent run holds one setting of a wider sweep)
    project: str | None = None  # the W&B project the file names

    @property
    def swept_keys(self) -> list[str]:
        """Parameters that take more than one value (the columns a table groups by)."""
        if self.swept is not None:
            return self.swept
        fixed = IMAGE_PARAMS + RESOURCE_PARAMS + REPLICATE_PARAMS
        return [k for k, spec in self.parameters.items() if k not in fixed
                and (("values" in spec and len(spec["values"]) > 1) or "min" in spec)]

    def resource(self, key: str, default: float) -> float:
        """A per-trial Ray resource from the sweep file (``ray.cpus`` / ``ray.gpus`` parameters)."""
        return float(self.parameters.get(key, {}).get("value", default))


def short_value(v: Any) -> str:
    """Compact label of a parameter value: image paths by stem, lists joined by +, dicts as k=v."""
    if isinstance(v, dict):
        return " ".join(f"{k}={short_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "+".join(short_value(x) for x in v)
    if isinstance(v, str) and ("/" in v or v.endswith(IMAGE_SUFFIXES)):
        return Path(v).stem
    return str(v)


def load_sweep(path: str | Path, require_images: bool = True, for_agent: bool = False) -> Sweep:
    """Read and check a sweep file; ``for_agent``: a W&B agent chose the values, so ``bayes`` is fine."""
    data = read_yaml(path)
    unknown = set(data) - SWEEP_KEYS
    if unknown:
        raise UserError(f"{path}: unknown sweep key(s) {', '.join(sorted(unknown))}; a sweep file has "
                        f"{', '.join(sorted(SWEEP_KEYS))} (config keys go under parameters:)")
    method = data.get("method", "grid")
    if method not in ("grid", "random") and not (for_agent and method == "bayes"):
        raise UserError(f"{path}: method must be grid or random (bayes needs the W&B server), got {method!r}")
    params = data.get("parameters") or {}
    if not isinstance(params, dict) or not params:
        raise UserError(f"{path}: parameters: must map config keys to {{values: [...]}} or {{value: x}}")
    for key, spec in params.items():
        if not isinstance(spec, dict) or not ({"value", "values", "min", "distribution"} & set(spec)):
            raise UserError(f"{path}: parameter {key} must be {{value: x}}, {{values: [...]}} or {{min, max}}")
        if method == "grid" and ("min" in spec or "distribution" in spec) and "values" not in spec:
            raise UserError(f"{path}: parameter {key} has a range, which needs method: random")
    # nst-bench's recipe; W&B's `program` is a script, so a sweep file names the recipe `recipe:` (a `program:` that
    # names a recipe is read as one, as sweep files did before they carried a W&B `command:`)
    legacy = data.get("program") if data.get("program") in PROGRAMS else None
    try:
        program = get_program(data.get("recipe") or legacy or "stylize")
    except UserError as e:
        raise UserError(f"{path}: recipe: {e}") from None
    given = set(params) | ({"content", "styles"} if "pairs" in params else set())
    # images may come from the command instead (`evaluate retention` pairs photos with paintings)
    missing = [k for k in program.required if k not in given and (require_images or k not in IMAGE_PARAMS)]
    if missing:
        raise UserError(f"{path}: a {program.name} sweep needs {program.describe_requirements()} parameters "
                        f"(missing: {', '.join(missing)}); images may be files, folders or globs, or give pairs "
                        "(a list of [content, style])")
    return Sweep(name=str(data.get("name") or Path(path).stem), path=Path(path), method=method,
                 metric=data.get("metric") or {"name": "final/total", "goal": "minimize"},
                 parameters=params, run_cap=data.get("run_cap"), seed=int(params.get("seed", {}).get("value", 0)),
                 program=program.name, project=data.get("project"))


def expand_images(value: Any, base: Path) -> list[str]:
    """A file, folder or glob (relative to the sweep file's repo root or cwd) -> sorted image paths."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        p = Path(str(item)).expanduser()
        candidates = [p] if p.is_absolute() else [p, base / p]
        found = False
        for c in candidates:
            if c.is_dir():
                out += sorted(str(f) for f in c.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
                found = True
            elif any(ch in str(c) for ch in "*?["):
                matches = sorted(m for m in glob.glob(str(c)) if m.lower().endswith(IMAGE_SUFFIXES))
                out += matches
                found = found or bool(matches)
            elif c.is_file():
                out.append(str(c))
                found = True
            if found:
                break
        if not found:
            raise UserError(f"no images match {item!r} (looked in {os.getcwd()} and {base})")
    return out


def _values(spec: dict[str, Any]) -> list[Any]:
    if "values" in spec:
        return list(spec["values"])
    if "value" in spec:
        return [spec["value"]]
    raise ValueError("range parameter")


def _sample(spec: dict[str, Any], rng: random.Random) -> Any:
    if "values" in spec or "value" in spec:
        return rng.choice(_values(spec))
    lo, hi = spec["min"], spec["max"]
    dist = spec.get("distribution", "int_uniform" if isinstance(lo, int) and isinstance(hi, int) else "uniform")
    if dist == "int_uniform":
        return rng.randint(lo, hi)
    if dist == "uniform":
        return rng.uniform(lo, hi)
    if dist == "log_uniform_values":
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    raise UserError(f"distribution {dist!r} is not supported here; use uniform, int_uniform or log_uniform_values")


def grid_settings(sweep: Sweep) -> Iterator[dict[str, Any]]:
    """Parameter settings other than images: the full grid, or ``run_cap`` random draws (seeded)."""
    params = {k: v for k, v in sweep.parameters.items() if k not in IMAGE_PARAMS + RESOURCE_PARAMS}
    if sweep.method == "grid":
        keys = list(params)
        for combo in itertools.product(*(_values(params[k]) for k in keys)):
            yield dict(zip(keys, combo))
        return
    rng = random.Random(sweep.seed)
    for _ in range(sweep.run_cap or 10):
        yield {k: _sample(spec, rng) for k, spec in params.items()}


def other_sections(method: str) -> set[str]:
    """Config sections that only other methods read: they must not change this method's trial ids."""
    return {s for m in method_names() if m != method for s in get_method(m).sections}


def trial_hash(cfg: RunConfig, network_sha256: str | None = None) -> str:
    """Id of a trial: hash of the resolved config minus where it is written, how it is logged, training settings,
    and the sections of other methods (so adding a section for a new method leaves existing ids unchanged).
    ``network_sha256`` stands in for the trained network's file: the id it had when that network was here."""
    method = get_method(cfg.method)
    skip = {"out", "tracking", "train", *other_sections(cfg.method)} - set(method.sections)
    data = {k: v for k, v in to_dict(cfg).items() if k not in skip}
    digest = network_sha256 or network_digest(method.network_path(cfg))
    if digest:
        data["network_sha256"] = digest  # a retrained network is a new trial
    return config_hash(data)


def network_digest(network: str | None) -> str | None:
    """sha256 of the trained network file a trial loads, when it exists (on a clean clone it does not)."""
    return sha256(Path(network)) if network and Path(network).is_file() else None


def training_hash(cfg: RunConfig, program: Program) -> str:
    """Id of a training trial: everything that shapes the network (its train and method sections included)."""
    skip = {"out", "tracking", *other_sections(cfg.method)}
    data = {k: v for k, v in to_dict(cfg).items() if k not in skip}
    return config_hash(data | {"program": program.name})


def _image_sets(sweep: Sweep) -> list[tuple[str, list[str]]]:
    """(content, styles) combinations: given ``pairs``, or every content image x every style set."""
    base = Path.cwd()
    if "pairs" in sweep.parameters:
        out = []
        for pair in _values(sweep.parameters["pairs"]):
            if not isinstance(pair, list) or len(pair) < 2:
                raise UserError(f"{sweep.path}: each pairs value is [content, style, ...], got {pair!r}")
            out.append((expand_images(pair[0], base)[0], [expand_images(s, base)[0] for s in pair[1:]]))
        return out
    contents = expand_images(_values(sweep.parameters["content"]), base) if "content" in sweep.parameters else [None]
    style_sets: list[list[str]] = []
    if "styles" not in sweep.parameters:  # a program without images (CycleGAN training: its folders are params)
        return [(c, []) for c in contents]
    for v in _values(sweep.parameters["styles"]):
        style_sets += [expand_images(v, base)] if isinstance(v, list) else [[s] for s in expand_images(v, base)]
    return list(itertools.product(contents, style_sets))


def expand(sweep: Sweep, results_root: Path = Path("results")) -> list[Trial]:
    """Every trial of the sweep: content images x style sets x parameter settings, with ids."""
    image_sets = _image_sets(sweep)
    program = get_program(sweep.program)
    trials: list[Trial] = []
    seen: set[str] = set()
    for setting in grid_settings(sweep):
        for content, styles in image_sets:
            data: dict[str, Any] = {}
            for key, value in setting.items():
                if key == "config":  # a value that sets several keys at once: {dotted.key: value, ...}
                    if not isinstance(value, dict):
                        raise UserError(f"{sweep.path}: each value of the config parameter is a mapping of "
                                        f"dotted keys, got {value!r}")
                    for k, v in value.items():
                        set_dotted(data, k, v)
                else:
                    set_dotted(data, key, value)
            data |= {"content": content, "styles": styles}
            if program.method:
                data["method"] = program.method
            cfg = validate(from_dict(RunConfig, data))
            get_method(cfg.method).check(cfg)
            cfg.tracking.group = sweep.name
            trial_id = training_hash(cfg, program) if program.trains else trial_hash(cfg)
            if trial_id in seen:
                continue
            seen.add(trial_id)
            cfg.out = str(results_root / sweep.name / trial_id)
            params = {"content": Path(content).stem} if content else {}
            params |= ({"style": "+".join(Path(s).stem for s in styles)} if styles else {}) | {
                k: setting[k] for k in sweep.swept_keys}
            trials.append(Trial(trial_id, cfg, params, sweep.program))
    return trials
