"""Content retention (protocol v2): does an ImageNet classifier still see what the photo showed once it is stylized?

The protocol (``evaluate/protocol.py``) fixes what v1 left to chance: every method stylizes the classifier's own
evaluation view of the photo (nothing is upscaled), each photo meets ``k`` paintings of every artist, slow
settings take a stratified subset of the photos, and the classifier is none of the backbones under test.

A settings file is a sweep file whose ``config`` values are the settings; inside one, ``retention.label`` names it,
``retention.every`` takes every n-th photo (Gatys' budget), ``retention.artists`` restricts the artists (a
CycleGAN generator ignores the painting: it is scored on its own artist only) and ``retention.deception: false``
leaves the deception rate blank (a fixed-style network of a painter who is not in the study). Any other swept key
crosses the settings (each grid point is a setting). ``image.size`` is the classifier's view, whatever the file
says. Each setting runs as its own sweep in one results folder (trial ids come from the resolved config, so
settings share nothing but the folder).

Scores are appended to ``scores.jsonl`` as trials are scored (one row per setting and stylization, committed with
the study; two settings may share a trial):
a study killed while scoring resumes there, and the tables can be rebuilt from the scores alone. Every interval
resamples photos (``evaluate/statistics.py``); the resamples depend on the study's seed and the photo set only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from nst_bench.data.datasets import labelled_images
from nst_bench.data.images import as_saved_jpeg, image_size, list_images, load_image
from nst_bench.errors import UserError
from nst_bench.evaluate.deception import FoldedProbe, fit_folded_probe
from nst_bench.evaluate.protocol import Pair, assign_paintings, draw_seed, every_nth, write_views
from nst_bench.evaluate.retention_report import wnid, write_report
from nst_bench.losses.style_distance import gram_distance, reference_encoder, style_grams
from nst_bench.nets.classifier import Classifier, imagenet_classifier
from nst_bench.nets.content_check import similarity_to_photo
from nst_bench.sweeps.runner import run_sweep
from nst_bench.sweeps.spec import IMAGE_PARAMS, Sweep, expand, grid_settings, load_sweep, trial_hash
from nst_bench.sweeps.store import RunsLog

log = logging.getLogger(__name__)
SCORE_CHUNK = 16  # stylizations run, scored and kept at a time (a Gatys chunk: about half an hour here)


@dataclass
class Setting:
    """One row group of the tables: run-config keys plus the protocol's own choices for it."""

    label: str
    config: dict[str, Any]
    every: int = 1
    artists: list[str] | None = None
    deception: bool = True  # False: a fixed-style network of a painter outside the study (no artist to be taken for)


@dataclass
class RetentionStudy:
    settings: Path  # the settings file
    content: Path  # labelled photos (WordNet id first in each file name)
    artists: list[Path]  # one folder of paintings per artist; the folder's name is the artist
    probe_roots: list[Path]  # folders of artist folders the artist classifier learns from
    k: int = 2  # paintings per photo and artist
    seed: int = 0
    classifier: str = "independent"
    results_root: Path = Path("results")
    name: str | None = None
    limit: int | None = None
    bootstrap: int = 2000
    probe: dict[str, int] = field(default_factory=lambda: {"crops": 24, "folds": 5, "size": 320})

    @property
    def out(self) -> Path:
        return self.results_root / (self.name or load_sweep(self.settings, require_images=False).name)


def load_settings(path: Path) -> tuple[Sweep, list[Setting]]:
    """The settings file as a sweep and its settings: every point of its grid (each ``config`` value, crossed with
    any other swept key), in the file's order."""
    sweep = load_sweep(path, require_images=False)
    swept = [k for k in sweep.swept_keys if k != "config"]
    settings = []
    for point in grid_settings(sweep):
        value = dict(point.pop("config", None) or {})
        if not isinstance(value, dict):
            raise UserError(f"{path}: each value of parameters.config is a mapping of dotted config keys")
        value |= point
        config = {k: v for k, v in value.items() if not k.startswith("retention.")}
        shown = {k: v for k, v in config.items() if k in swept or ("config" in sweep.swept_keys and k not in point)}
        label = value.get("retention.label") or ", ".join(f"{k}={v}" for k, v in shown.items()) or "default"
        if "retention.label" in value and swept:
            label += ", " + ", ".join(f"{k}={point[k]}" for k in swept)
        settings.append(Setting(label, config, int(value.get("retention.every", 1)), value.get("retention.artists"),
                                bool(value.get("retention.deception", True))))
    labels = [s.label for s in settings]
    if len(set(labels)) < len(labels):
        raise UserError(f"{path}: two settings share a label ({labels}); give each a distinct retention.label")
    return sweep, settings


def setting_sweep(base: Sweep, setting: Setting, pairs: list[Pair], side: int, name: str) -> Sweep:
    """One setting's stylizations as a sweep: the shared parameters, the setting's keys, its (view, painting)
    pairs, at the classifier's side."""
    params = {k: v for k, v in base.parameters.items() if k not in (*IMAGE_PARAMS, "config", *base.swept_keys)}
    params |= {"image.size": {"value": side}, "config": {"value": setting.config},  # the view's side: no resize
               "pairs": {"values": [[str(p.photo), str(p.painting)] for p in pairs]}}
    return dataclasses.replace(base, parameters=params, name=name)


def artist_folders(folders: list[Path]) -> dict[str, list[Path]]:
    paintings = {}
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"artist folder not found: {folder} (give one folder of paintings per artist)")
        paintings[folder.name] = list_images(folder)
        if len(paintings[folder.name]) == 0:
            raise UserError(f"{folder} holds no images")
    return paintings


def probe_paintings(roots: list[Path], needed: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """Every artist folder under ``roots`` merged by name (``paintings256/van_gogh`` and ``artists/van_gogh`` are
    one artist), plus the study's own artists, so that each stylizing painting has a fold."""
    merged: dict[str, list[Path]] = {}
    for root in roots:
        for folder in sorted(d for d in Path(root).iterdir() if d.is_dir()):
            merged.setdefault(folder.name, []).extend(list_images(folder))
    for artist, paintings in needed.items():
        merged.setdefault(artist, []).extend(p for p in paintings if p not in merged[artist])
    return {a: sorted(set(ps)) for a, ps in merged.items() if ps}


Plan = list[tuple[Setting, Sweep, list[Pair]]]


def planned(study: RetentionStudy, side: int, view_root: Path) -> tuple[Sweep, Plan, list[Path]]:
    """The settings file as a sweep, each setting with its sweep and its (view, painting) pairs at the
    classifier's ``side``, and the study's photos; the views are named, not written."""
    base, settings = load_settings(study.settings)
    if study.k < 2:
        raise UserError(f"k={study.k}: the protocol gives each photo at least 2 paintings per artist (set k >= 2)")
    photos = [item.path for item in labelled_images(study.content, study.limit)]
    views = [view_root / f"{p.stem}.png" for p in photos]
    paintings = artist_folders(study.artists)
    plan = []
    for s in settings:
        unknown = set(s.artists or []) - set(paintings)
        if unknown:
            raise UserError(f"setting {s.label!r} asks for artist(s) {sorted(unknown)} that the study does not "
                            f"have (it has {sorted(paintings)})")
        chosen = {a: ps for a, ps in paintings.items() if s.artists is None or a in s.artists}
        pairs = assign_paintings(every_nth(views, s.every), chosen, study.k, study.seed)
        plan.append((s, setting_sweep(base, s, pairs, side, study.out.name), pairs))
    return base, plan, photos


def score_chunk(todo: list[tuple[Setting, str, Pair, dict]], classifier: Classifier, probe: FoldedProbe,
                clean: dict[str, list[str]], grams: dict, seed: int) -> list[dict[str, Any]]:
    """Top-1/top-5/agreement, the artist probe's verdict and the distances of a few stylizations."""
    reference = grams["encoder"]
    images, rows = [], []
    setting_of = {s.label: s for s, _, _, _ in todo}
    for setting, trial_id, pair, run in todo:
        out = Path(run["out"])
        image = load_image(out / "stylized.jpg")
        view = load_image(pair.photo)
        if pair.painting not in grams:
            grams[pair.painting] = style_grams(reference, load_image(pair.painting, classifier.input_size))
        metrics = json.loads((out / "metrics.json").read_text())
        network = (metrics.get("method_weights") or {}).get("sha256")
        images.append(image)
        rows.append({"trial_id": trial_id, "setting": setting.label, "classifier": classifier.name,
                     "content": pair.photo.stem, "label": wnid(pair.photo.name), "artist": pair.artist,
                     "painting": str(pair.painting), "probe_fold": probe.fold[pair.painting], "network_sha256": network,
                     "seconds": run.get("seconds"), "steps_to_5pct": metrics.get("steps_to_5pct"),
                     "provenance": metrics.get("provenance"),  # run folders stay out of git; this row does not
                     "gram_distance": gram_distance(reference, image, grams[pair.painting]),
                     **similarity_to_photo(view, image)})
    top5 = classifier.probabilities(images, views=True).topk(5).indices.tolist()
    artists = probe.predict(classifier, images, [Path(r["painting"]) for r in rows],
                            seeds=[draw_seed(seed, "deception", r["trial_id"]) for r in rows])
    for row, top, artist in zip(rows, top5, artists):
        predicted = [classifier.labels[i] for i in top]
        row |= {"pred": predicted[0], "pred_clean": clean[row["content"]][0],
                "top1": float(predicted[0] == row["label"]), "top5": float(row["label"] in predicted),
                "agreement": float(predicted[0] == clean[row["content"]][0]),
                "clean_top1": float(clean[row["content"]][0] == row["label"]),
                "predicted_artist": artist,
                "deception": float(artist == row["artist"]) if setting_of[row["setting"]].deception else None}
    return rows


def kept_rows(setting: Setting, sweep: Sweep, scored: dict[str, list[dict[str, Any]]], results_root: Path
              ) -> list[dict[str, Any]] | None:
    """The scored rows of a setting whose trained network is not on this machine (networks stay out of git), or
    None when the network is here (or the setting has none) and the setting runs as usual. A label may have named
    other networks before, so a row is kept only if its trial id is the one this setting's config gives with the
    row's own network; with no such row, the study cannot go on."""
    network = next((v for k, v in setting.config.items() if k.endswith(".checkpoint")), None)
    if network is None or Path(network).exists():
        return None
    rows = scored.get(setting.label, [])
    configs = [t.config for t in expand(sweep, results_root)]
    ids = {sha: {trial_hash(c, sha) for c in configs} for sha in {r.get("network_sha256") for r in rows}}
    rows = [r for r in rows if r["trial_id"] in ids[r.get("network_sha256")]]
    if not rows:
        raise UserError(f"setting {setting.label!r} needs the trained network {network}, which is not here and has "
                        "no scores yet: train it (its config names the command) or drop the setting")
    log.warning("setting %s: %s is not here; keeping the %d rows it was scored with", setting.label, network,
                len(rows))
    return rows


class Scorer:
    """Scores chunks of stylizations; the artist classifier is fitted on first use (re-tabulating needs none)."""

    def __init__(self, study: RetentionStudy, classifier: Classifier, clean: dict[str, list[str]],
                 plan: Plan) -> None:
        self.study, self.classifier, self.clean, self.plan = study, classifier, clean, plan
        self.probe: FoldedProbe | None = None
        self.grams: dict[Any, Any] = {}

    def fit_probe(self) -> FoldedProbe:
        s = self.study
        self.probe = fit_folded_probe(self.classifier, probe_paintings(s.probe_roots, artist_folders(s.artists)),
                                      folds=s.probe["folds"], crops=s.probe["crops"], size=s.probe["size"],
                                      seed=s.seed, cache=s.out / "probe_features")
        missing = sorted({str(p.painting) for _, _, pairs in self.plan for p in pairs
                          if p.painting not in self.probe.fold})
        if missing:
            raise UserError(f"the artist classifier has no fold for {missing[:3]}: add their folders to the "
                            "probe roots")
        return self.probe

    def __call__(self, chunk: list[tuple[Setting, str, Pair, dict]]) -> list[dict[str, Any]]:
        if "encoder" not in self.grams:
            self.grams["encoder"] = reference_encoder()
        probe = self.probe or self.fit_probe()  # fitting needs gradients; scoring does not
        with torch.no_grad():
            return score_chunk(chunk, self.classifier, probe, self.clean, self.grams, self.study.seed)


def clean_predictions(classifier: Classifier, views: list[Path]) -> dict[str, list[str]]:
    """Top-5 WordNet ids of each photo's view, by photo name; the view goes through the JPEG that every
    stylization is saved as, so that clean and stylized images differ only by the method."""
    images = [as_saved_jpeg(load_image(v)) for v in views]
    top5 = classifier.probabilities(images, views=True).topk(5).indices.tolist()
    return {v.stem: [classifier.labels[i] for i in t] for v, t in zip(views, top5)}


def run_retention(study: RetentionStudy, *, executor: str = "local", wandb_mode: str | None = None,
                  stylize: bool = True) -> dict[str, Any]:
    """Stylize what is missing, score what is unscored, and write the tables (``retention.csv``, ``paired.csv``,
    ``deception.csv``, ``clean.csv``) and plots. ``stylize=False`` only writes the tables, from what is scored: a
    setting still running (a Gatys setting takes days here) enters with the stylizations it has."""
    classifier = imagenet_classifier(study.classifier)
    out = study.out
    view_root = out / "views" / classifier.name
    view_side = classifier.input_size
    base, plan, photos = planned(study, view_side, view_root)
    write_views(photos, classifier.input_size, classifier.crop_pct, view_root)
    views = sorted({p.photo for _, _, pairs in plan for p in pairs})
    clean = clean_predictions(classifier, views)
    scores = RunsLog(out / "scores.jsonl")  # the same torn-line-safe JSONL log as runs.jsonl
    scored = scores.read()
    done = {(r["setting"], r["trial_id"], r["classifier"]) for r in scored}
    scores_by_label: dict[str, list[dict[str, Any]]] = {}
    for r in scored:
        if r["classifier"] == classifier.name:
            scores_by_label.setdefault(r["setting"], []).append(r)
    scorer = Scorer(study, classifier, clean, plan)
    wanted: set[tuple[str, str]] = set()
    for setting, sweep, pairs in plan:  # stylize and score one setting at a time: each one's scores are kept
        kept = kept_rows(setting, sweep, scores_by_label, study.results_root)
        if kept is not None:
            wanted |= {(setting.label, r["trial_id"]) for r in kept}
            continue
        trials = {(t.config.content, t.config.styles[0]): t for t in expand(sweep, study.results_root)}
        mine = [(pair, trials[str(pair.photo), str(pair.painting)]) for pair in pairs]
        unscored = [(pair, t) for pair, t in mine if (setting.label, t.id, classifier.name) not in done]
        if not stylize:
            wanted |= {(setting.label, t.id) for _, t in mine if (setting.label, t.id, classifier.name) in done}
            if unscored:
                log.warning("setting %s: %d of %d stylizations scored; the tables show only those", setting.label,
                            len(mine) - len(unscored), len(mine))
            continue
        wanted |= {(setting.label, t.id) for _, t in mine}
        if not unscored:
            continue
        log.info("setting %s: %d of %d stylizations to score", setting.label, len(unscored), len(mine))
        with tqdm(total=len(mine), initial=len(mine) - len(unscored), desc=f"{setting.label}: scored",
                  unit="image", disable=None) as bar:
            for i in range(0, len(unscored), SCORE_CHUNK):  # stylize a chunk, score it, keep its scores
                chunk = unscored[i:i + SCORE_CHUNK]
                part = setting_sweep(base, setting, [pair for pair, _ in chunk], view_side, out.name)
                run_sweep(part, executor=executor, results_root=study.results_root, wandb_mode=wandb_mode,
                          summary=False, retry_failed=True)  # the error below says: fix the cause and rerun
                runs = {r["trial_id"]: r for r in RunsLog(out / "runs.jsonl").read() if r.get("status") == "ok"}
                failed = [t.id for _, t in chunk if t.id not in runs]
                if failed:
                    raise UserError(f"{len(failed)} stylization(s) of {setting.label!r} failed (first: {failed[0]}):"
                                    f" see {out / 'runs.jsonl'}, fix the cause and rerun the study")
                for row in scorer([(setting, t.id, pair, runs[t.id]) for pair, t in chunk]):
                    scores.append(row)
                bar.update(len(chunk))
    frame = pd.DataFrame([r for r in scores.read()
                          if r["classifier"] == classifier.name and (r["setting"], r["trial_id"]) in wanted])
    frame = frame.drop_duplicates(["setting", "trial_id"], keep="last")
    order = {s.label: i for i, (s, _, _) in enumerate(plan)}
    frame = frame.sort_values(["setting", "content", "artist", "painting"], key=lambda c: c.map(order)
                              if c.name == "setting" else c, kind="stable")
    if len(frame):
        # what is read against the clean view comes from today's clean predictions, not those of scoring time
        frame["pred_clean"] = frame.content.map(lambda c: clean[c][0])
        frame["agreement"] = (frame.pred == frame.pred_clean).astype(float)
        frame["clean_top1"] = (frame.pred_clean == frame.label).astype(float)
        no_deception = [s.label for s, _, _ in plan if not s.deception]  # turned off since it was scored: none
        frame.loc[frame.setting.isin(no_deception), "deception"] = float("nan")
    protocol = {"k": study.k, "seed": study.seed, "bootstrap": study.bootstrap, "content": str(study.content),
                "photos": len(clean), "artists": [str(a) for a in study.artists],
                "probe_roots": [str(r) for r in study.probe_roots], "probe": study.probe,
                "view": {"side": classifier.input_size, "crop_pct": classifier.crop_pct}}
    if scorer.probe is None and not same_artist_classifier(out, protocol, classifier.name):
        scorer.fit_probe()  # deception.csv is missing or was made by another artist classifier
    settings = [dataclasses.asdict(s) for s, _, _ in plan]
    short_sides = {p.stem: min(image_size(p)) for p in photos}
    return write_report(out, protocol, settings, frame, clean, short_sides, classifier, scorer.probe,
                        wandb_mode) | {"probe": scorer.probe}


def same_artist_classifier(out: Path, protocol: dict[str, Any], classifier: str) -> bool:
    """Whether ``deception.csv`` was written by the artist classifier this run would fit (same ImageNet classifier,
    paintings, folds, crops and seed), so that re-tabulating may reuse it without refitting."""
    record = out / "study.json"
    if not (out / "deception.csv").is_file() or not record.is_file():
        return False
    before = json.loads(record.read_text())
    keys = ("artists", "probe_roots", "probe", "seed")
    return (before.get("classifier", {}).get("name") == classifier
            and all(before.get("protocol", {}).get(k) == protocol[k] for k in keys))
