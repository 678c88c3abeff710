"""Deception rate without leakage: an artist classifier that never saw the painting that stylized the image.

The paintings of every artist are dealt into ``folds`` folds (whole paintings, seeded). One probe per fold is
fitted on the crops of every other fold's paintings (``artists.fit_probe``). A stylization made with painting p is
scored only by the probe of p's fold, which did not train on p; the held-out accuracy per artist is each
painting's prediction by that same probe. The same painting can sit in two folders under two names (an
``artists/`` copy of a ``paintings256/`` image): paintings whose whole-image features nearly coincide are put in
one fold, so a copy cannot leak either.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from nst_bench.data.images import load_image
from nst_bench.evaluate.artists import ArtistProbe, fit_probe, random_crops
from nst_bench.evaluate.protocol import draw_seed
from nst_bench.nets.classifier import Classifier
from nst_bench.nets.weights import sha256

FEATURES_SAVE_EVERY = 25  # paintings between saves of the features computed so far (about a minute of work)
FEATURES_VERSION = 1  # bump when random_crops or load_image change what the cached features would be
SAME_PAINTING = 0.97  # cosine of whole-image features above which two files are taken for one painting


def copies(features: torch.Tensor, threshold: float = SAME_PAINTING) -> list[int]:
    """Group id per image: images whose features' cosine exceeds ``threshold`` share one (transitively)."""
    sim = F.normalize(features, dim=1) @ F.normalize(features, dim=1).T
    group = list(range(len(features)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in (sim > threshold).nonzero().tolist():
        if i < j:
            group[root(j)] = root(i)
    return [root(i) for i in range(len(features))]


@dataclass
class FoldedProbe:
    """One artist probe per fold; ``fold[painting]`` says which probe may score that painting's stylizations."""

    artists: list[str]
    probes: list[ArtistProbe]
    fold: dict[Path, int]
    trained_on: list[set[Path]] = field(default_factory=list)  # per fold: the paintings its probe fitted
    heldout: dict[str, float] = field(default_factory=dict)  # artist -> held-out painting accuracy
    heldout_paintings: dict[str, int] = field(default_factory=dict)

    def probe_for(self, painting: Path) -> ArtistProbe:
        """The probe that never saw ``painting`` (nor a copy of it); a painting outside the folds is an error."""
        painting = Path(painting)
        if painting not in self.fold:
            raise KeyError(f"{painting} is not one of the artist classifier's paintings: it cannot say which "
                           "probe has not seen it")
        k = self.fold[painting]
        if painting in self.trained_on[k]:
            raise RuntimeError(f"fold {k}'s probe trained on {painting}: the folds are inconsistent")
        return self.probes[k]

    def predict(self, classifier: Classifier, images: Sequence[torch.Tensor], paintings: Sequence[Path],
                seeds: Sequence[int], crops: int = 5) -> list[str]:
        """The artist each stylized image is attributed to, each by the probe that did not train on its painting,
        from the whole image and ``crops - 1`` random crops drawn with the image's own seed (so an image's verdict
        does not depend on what else is scored with it)."""
        out = []
        for image, painting, seed in zip(images, paintings, seeds, strict=True):
            rng = random.Random(seed)
            probe = self.probe_for(painting)
            probs = probe.probabilities(classifier.features(random_crops(image, crops, rng))).mean(0)
            out.append(self.artists[int(probs.argmax())])
        return out

    def describe(self) -> dict[str, object]:
        return {"artists": self.artists, "folds": len(self.probes), "heldout_accuracy": self.heldout,
                "heldout_paintings": self.heldout_paintings}


def _atomic_torch_save(path: Path, data: object) -> None:
    """torch.save through a temp file: a kill mid-write leaves no half file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(data, tmp)
    tmp.replace(path)


def features_key(classifier: Classifier, items: list[tuple[str, Path]], crops: int, size: int, seed: int) -> str:
    """The cache name of ``painting_features``: a digest of everything that decides them."""
    files = [(str(p), sha256(p)) for _, p in items]
    describe = getattr(classifier, "describe", lambda: classifier.name)
    key = hashlib.sha256(json.dumps([FEATURES_VERSION, describe(), crops, size, seed, files], default=str).encode())
    return key.hexdigest()[:16]


def painting_features(classifier: Classifier, items: list[tuple[str, Path]], crops: int, size: int, seed: int,
                      progress: bool = True, cache: Path | None = None) -> list[torch.Tensor]:
    """Classifier features of ``crops`` crops of every painting (the whole painting first); the slow part of the
    artist classifier (minutes for a few hundred paintings), so kept in ``cache`` under a key of everything that
    decides them: the classifier (name, weights, view), the crops, the side, the seed, the paintings in order (the
    crops' random stream runs through them in turn) with each file's sha256 (not its time: ../shared is copied
    afresh each session, and a key of times missed every time), and ``FEATURES_VERSION``. The
    features computed so far and the random stream's state are saved every ``FEATURES_SAVE_EVERY`` paintings, so a
    killed run loses at most that many."""
    path = cache / f"{features_key(classifier, items, crops, size, seed)}.pt" if cache is not None else None
    partial = path.with_suffix(".partial.pt") if path is not None else None
    if path is not None and path.is_file():
        partial.unlink(missing_ok=True)  # left by a kill between the last two lines below
        return list(torch.load(path, weights_only=True))
    rng, feats = random.Random(seed), []
    if partial is not None and partial.is_file():  # a run killed part way: go on from its last saved painting
        kept = torch.load(partial, weights_only=True)
        feats, state = list(kept["features"]), kept["rng_state"]
        rng.setstate((state[0], tuple(state[1]), state[2]))
    for _, p in tqdm(items[len(feats):], desc="artist classifier: painting features", unit="painting",
                     initial=len(feats), total=len(items), disable=None if progress else True):
        feats.append(classifier.features(random_crops(load_image(p, size), crops, rng)))
        # each save rewrites all so far: the bytes grow with the square of the count (0.5 GB for 430 paintings)
        if partial is not None and len(feats) % FEATURES_SAVE_EVERY == 0:
            _atomic_torch_save(partial, {"features": feats, "rng_state": list(rng.getstate())})
    if path is not None:
        _atomic_torch_save(path, feats)
        partial.unlink(missing_ok=True)
    return feats


def fit_folded_probe(classifier: Classifier, paintings: dict[str, list[Path]], *, folds: int = 5, crops: int = 24,
                     size: int = 320, epochs: int = 400, seed: int = 0, progress: bool = True,
                     cache: Path | None = None) -> FoldedProbe:
    """Features of ``crops`` crops of every painting (computed once, or read from ``cache``), the folds, one probe
    per fold."""
    artists = list(paintings)
    items = [(a, Path(p)) for a in artists for p in paintings[a]]
    feats = painting_features(classifier, items, crops, size, seed, progress, cache)
    whole = [f[0] for f in feats]  # random_crops puts the whole image first
    group = copies(torch.stack(whole))
    fold: dict[Path, int] = {}
    for artist in artists:  # deal each artist's groups of copies round-robin into the folds, in a seeded order
        roots = sorted({group[i] for i, (a, _) in enumerate(items) if a == artist})
        random.Random(draw_seed(seed, "folds", artist)).shuffle(roots)
        for n, r in enumerate(roots):
            for i, (_, path) in enumerate(items):
                if group[i] == r:
                    fold.setdefault(path, n % folds)
    for i, (_, path) in enumerate(items):  # a copy filed under another artist joins its original's fold
        fold[path] = fold[items[group[i]][1]]
    torch.manual_seed(seed)
    probes, trained_on = [], []
    for k in range(folds):
        train = [i for i, (_, p) in enumerate(items) if fold[p] != k]
        x = torch.cat([feats[i] for i in train])
        y = torch.tensor([artists.index(items[i][0]) for i in train for _ in range(len(feats[i]))])
        probes.append(fit_probe(artists, x, y, epochs))
        trained_on.append({items[i][1] for i in train})
    probe = FoldedProbe(artists, probes, fold, trained_on)
    for artist in artists:
        mine = [i for i, (a, _) in enumerate(items) if a == artist]
        hits = [probe.artists[int(probe.probe_for(items[i][1]).probabilities(feats[i]).mean(0).argmax())] == artist
                for i in mine]
        probe.heldout[artist] = sum(hits) / len(hits)
        probe.heldout_paintings[artist] = len(hits)
    return probe
