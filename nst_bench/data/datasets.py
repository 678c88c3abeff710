"""Labelled content sets and artists' datasets. Unreadable files are reported and skipped, never fatal."""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from nst_bench.data.images import IMAGE_SUFFIXES, list_images, read_image, resize
from nst_bench.errors import UserError

log = logging.getLogger(__name__)
WNID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str | None  # WordNet id, or None for unlabelled content


def readable(path: Path) -> bool:
    """Cheap check (header + verify) that PIL can decode ``path``; logs and returns False otherwise."""
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception as e:  # PIL raises many types for broken files
        log.warning("skipping unreadable image %s (%s)", path, type(e).__name__)
        return False


def labelled_images(source: str | Path, limit: int | None = None) -> list[LabelledImage]:
    """Images with WordNet labels from: a folder of files named ``<wnid>_*.jpg``, an ImageFolder of ``<wnid>/``
    sub-folders, or a CSV of ``path,label``. Files without a WordNet id are kept, unlabelled."""
    src = Path(source)
    if not src.exists():
        raise UserError(f"content set not found: {src}")
    items: list[LabelledImage] = []
    if src.is_file() and src.suffix.lower() == ".csv":
        with open(src, newline="") as f:
            for row in csv.reader(f):
                if not row or row[0].strip().lower() == "path":
                    continue
                p = Path(row[0].strip())
                p = p if p.is_absolute() else src.parent / p
                items.append(LabelledImage(p, row[1].strip() if len(row) > 1 and row[1].strip() else None))
    elif src.is_dir():
        subdirs = sorted(d for d in src.iterdir() if d.is_dir() and WNID.fullmatch(d.name))
        if subdirs:
            items = [LabelledImage(p, d.name) for d in subdirs for p in list_images(d)]
        else:
            for p in list_images(src):
                m = WNID.match(p.name)
                items.append(LabelledImage(p, m.group(0) if m else None))
    else:
        raise UserError(f"{src} is neither a folder of images nor a CSV of path,label")
    items = [i for i in items if i.path.suffix.lower() in IMAGE_SUFFIXES and i.path.exists() and readable(i.path)]
    if not items:
        raise UserError(f"no readable images in {src}")
    return items[:limit] if limit else items


def artist_paintings(root: str | Path, artists: list[str] | None = None) -> dict[str, list[Path]]:
    """``root/<artist>/*.jpg`` -> {artist: [paintings]}, only readable files, artists in the order asked."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"artists folder not found: {root} (expected one sub-folder of paintings per artist)")
    available = sorted(d.name for d in root.iterdir() if d.is_dir())
    wanted = artists or available
    missing = [a for a in wanted if a not in available]
    if missing:
        raise UserError(f"no folder for artist(s) {', '.join(missing)} in {root}; available: {', '.join(available)}")
    out = {a: [p for p in list_images(root / a) if readable(p)] for a in wanted}
    empty = [a for a, ps in out.items() if not ps]
    if empty:
        raise UserError(f"no readable paintings for {', '.join(empty)} in {root}")
    return out


def split_holdout(paths: list[Path], holdout: int, seed: int = 0, key: str = "train.holdout",
                  what: str = "photos") -> tuple[list[Path], list[Path]]:
    """(train, held-out): ``holdout`` images picked by a seeded shuffle, so samples are never trained on. ``key``
    is the config setting that asked for them, named in the error."""
    if holdout >= len(paths):
        raise UserError(f"{len(paths)} {what} cannot spare {holdout} to hold out: add {what} or lower {key}")
    order = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed)).tolist()
    held = sorted(paths[i] for i in order[:holdout])
    return [p for p in paths if p not in held], held


class RandomCrops(Dataset):
    """Random square crops (with horizontal flips) from photos held in memory, resized once so the short side
    is ``crop x scale`` px (a scale above 1 gives a small set, e.g. 9 paintings, more distinct crops). Item ``i``
    is a fixed function of (seed, first + i), so a resumed run continues the stream instead of replaying it."""

    def __init__(self, paths: list[Path], crop: int, count: int, seed: int = 0, first: int = 0,
                 scale: float = 1.0) -> None:
        if not paths:
            raise UserError("no training photos: give a folder of images with --content-dir")
        self.crop, self.count, self.seed, self.first, self.scale = crop, count, seed, first, scale
        self.photos = [self._load(p) for p in tqdm(paths, desc="loading photos", unit="photo", disable=None)]

    def _load(self, path: Path) -> torch.Tensor:
        image = read_image(path)
        h, w = image.shape[-2:]
        scale = self.crop * self.scale / min(h, w)
        size = (max(self.crop, round(h * scale)), max(self.crop, round(w * scale)))
        return (resize(image, size)[0] * 255).round().to(torch.uint8)  # uint8 keeps 200 photos in ~50 MB

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.first + i)
        photo = self.photos[int(torch.randint(len(self.photos), (1,), generator=g))]
        h, w = photo.shape[-2:]
        y = int(torch.randint(h - self.crop + 1, (1,), generator=g))
        x = int(torch.randint(w - self.crop + 1, (1,), generator=g))
        out = photo[:, y: y + self.crop, x: x + self.crop].float() / 255
        return out.flip(-1) if torch.rand((), generator=g) < 0.5 else out


class UnpairedCrops(Dataset):
    """(a, b) pairs of crops from two unrelated folders: a photo domain and an artist's paintings."""

    def __init__(self, a: RandomCrops, b: RandomCrops) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return min(len(self.a), len(self.b))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a[i], self.b[i]
