"""Reading and writing video through PyAV (FFmpeg's libraries from PyPI), and clips made from one photo.

Frames are (1, 3, H, W) float tensors in [0, 1] like every image here. Encoding uses H.264 (yuv420p, so sides are
rounded down to even numbers) at the source's frame rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from nst_bench.data.images import fit_size, load_image, resize
from nst_bench.errors import UserError


def _av():
    try:
        import av
    except ImportError as e:
        raise UserError("video needs PyAV: pip install 'nst-bench[video]' (or pip install av)") from e
    return av


def _open(path: Path):
    av = _av()
    if not path.is_file():
        raise UserError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise UserError(f"cannot read {path} as a video ({type(e).__name__}): give an .mp4/.mov/.avi/.webm "
                        "file") from e
    if not container.streams.video:
        container.close()
        raise UserError(f"{path} has no video stream")
    return container


def probe_video(path: str | Path) -> tuple[float, int | None]:
    """Frame rate and frame count (None when the container does not say), after checking that the file decodes
    to at least two frames (a still image does not)."""
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        frames = stream.frames or None
        decoded = sum(1 for _, _ in zip(range(2), container.decode(video=0)))
    if decoded < 2:
        raise UserError(f"{path} holds {decoded} frame(s): give a video of at least 2 frames "
                        "(`nst-bench clip` makes one from a photo)")
    return fps, frames


def iter_frames(path: str | Path, long_side: int | None = None, max_frames: int | None = None
                ) -> Iterator[torch.Tensor]:
    """Decode frame by frame (memory stays at one frame), resized to ``long_side`` with even sides."""
    with _open(Path(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if max_frames and i >= max_frames:
                break
            x = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).unsqueeze(0).float() / 255
            yield resize(x, even(fit_size(*x.shape[-2:], long_side))) if long_side else x


def read_video(path: str | Path, long_side: int | None = None, max_frames: int | None = None
               ) -> tuple[list[torch.Tensor], float]:
    """Every frame (up to ``max_frames``) in memory, and the frame rate: for short clips and tests."""
    fps = probe_video(path)[0]
    return list(iter_frames(path, long_side, max_frames)), fps


def even(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides."""
    return (max(2, size[0] - size[0] % 2), max(2, size[1] - size[1] % 2))


def write_video(frames: Iterable[torch.Tensor], path: str | Path, fps: float, crf: int = 18) -> Path:
    """Encode frames as H.264 .mp4 at ``fps`` (written to a temporary name, then moved into place)."""
    av = _av()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.stem + ".partial" + p.suffix)
    iterator: Iterator[torch.Tensor] = iter(frames)
    first = next(iterator)
    h, w = even(tuple(first.shape[-2:]))
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf)}
        for x in (first, *iterator):
            arr = (x[0, :, :h, :w].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(p)
    return p


def pan_zoom_clip(photo: str | Path, long_side: int = 256, seconds: float = 3.0, fps: float = 24.0,
                  zoom: float = 1.25, pan: float = 0.5) -> list[torch.Tensor]:
    """A slow zoom-in with a sideways pan over one photo (a 'Ken Burns' shot): real image content with known,
    smooth motion, for video tests and studies when no footage is at hand."""
    image = load_image(photo, 2 * long_side)
    h, w = image.shape[-2:]
    out_h, out_w = even(fit_size(h, w, long_side))
    n = max(2, round(seconds * fps))
    frames = []
    for i in range(n):
        t = i / (n - 1)
        scale = 1 + (zoom - 1) * t  # the crop shrinks as the camera zooms in
        ch, cw = h / scale, w / scale
        x0 = (w - cw) * min(max(0.5 + pan * (2 * t - 1), 0.0), 1.0)  # and drifts sideways within the slack
        y0 = (h - ch) / 2
        theta = torch.tensor([[cw / w, 0, (2 * x0 + cw) / w - 1], [0, ch / h, (2 * y0 + ch) / h - 1]],
                             dtype=image.dtype).unsqueeze(0)
        grid = torch.nn.functional.affine_grid(theta, [1, 3, out_h, out_w], align_corners=False)
        frames.append(torch.nn.functional.grid_sample(image, grid, mode="bilinear", align_corners=False))
    return frames
