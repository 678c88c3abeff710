"""A contact sheet of several runs: the content photo, then each run's stylized.jpg, labelled by folder name.

    .venv/bin/python experiments/overview.py OUT.jpg RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw


def main(out: str, runs: list[str], height: int = 200) -> None:
    first = json.loads((Path(runs[0]) / "metrics.json").read_text())["config"]["content"]
    tiles = [("content", Path(first))] + [(Path(r).name, Path(r) / "stylized.jpg") for r in runs]
    images = []
    for _, path in tiles:
        with Image.open(path) as im:
            im = im.convert("RGB")
            images.append(im.resize((round(im.width * height / im.height), height)))
    sheet = Image.new("RGB", (sum(i.width for i in images) + 4 * len(images), height + 20), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for (label, _), im in zip(tiles, images):
        sheet.paste(im, (x, 18))
        draw.text((x + 2, 3), label, fill="black")
        x += im.width + 4
    sheet.save(out, quality=88)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
