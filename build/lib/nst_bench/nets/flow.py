"""Optical flow between video frames, backward warping and occlusion masks, for temporally consistent stylization.

Flow ``f`` from frame a to frame b gives, for every pixel x of a, where it went in b: a(x) ~ b(x + f(x)). To bring
the previous stylized frame onto the current one we need the flow from the current frame to the previous one and
sample the previous frame there (``warp``). Pixels where the forward and backward flows disagree are occluded or
mismatched; Ruder et al. (2016) leave them out of the temporal loss and the warping error (``consistency_mask``).

Estimators: OpenCV's Farneback (no weights) and torchvision's RAFT where its weights are present (resolver).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nst_bench.errors import UserError
from nst_bench.nets import weights as W

W.register(W.WeightSpec(
    "raft_small", "torchvision RAFT small optical flow (C_T_V2)", ("raft_small_C_T_V2-01064c6d.pth",),
    url="https://download.pytorch.org/models/raft_small_C_T_V2-01064c6d.pth", licence="BSD-3-Clause"))
W.register(W.WeightSpec(
    "raft_large", "torchvision RAFT large optical flow (C_T_SKHT_V2)", ("raft_large_C_T_SKHT_V2-ff5fadd5.pth",),
    url="https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth", licence="BSD-3-Clause"))

FLOW_METHODS = ("farneback", "raft_small", "raft_large")


def _grey(frame: torch.Tensor) -> np.ndarray:
    rgb = frame[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return (255 * (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])).astype(np.uint8)


def farneback(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dense flow a -> b, (1, 2, H, W) in pixels (x, y), with OpenCV's Farneback at settings for natural video."""
    try:
        import cv2
    except ImportError as e:
        raise UserError("Farneback flow needs OpenCV: pip install 'nst-bench[video]' (opencv-python-headless)") from e
    flow = cv2.calcOpticalFlowFarneback(_grey(a), _grey(b), None, pyr_scale=0.5, levels=4, winsize=15,
                                        iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    return torch.from_numpy(flow).permute(2, 0, 1).unsqueeze(0).to(a.device)


class RaftFlow:
    """torchvision RAFT with weights from the resolver; frames are padded (to a multiple of 8, at least 128 px)
    and the flow cropped back."""

    def __init__(self, name: str, weights: str | None = None) -> None:
        from torchvision.models.optical_flow import raft_large, raft_small

        self.resolved = W.resolve(name, weights)
        self.model = (raft_small if name == "raft_small" else raft_large)(weights=None)
        self.model.load_state_dict(W.load_state_dict(self.resolved))
        self.model.eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        h, w = a.shape[-2:]
        pad = (0, max(128, w + (-w) % 8) - w, 0, max(128, h + (-h) % 8) - h)  # RAFT needs >= 128 px, x8
        a, b = (F.pad(x * 2 - 1, pad, mode="replicate") for x in (a, b))
        return self.model(a, b, num_flow_updates=12)[-1][..., :h, :w]


def flow_estimator(name: str, weights: str | None = None):
    """A callable (frame_a, frame_b) -> flow a -> b; RAFT fails with one line when its weights are missing."""
    if name == "farneback":
        return farneback
    if name in ("raft_small", "raft_large"):
        return RaftFlow(name, weights)
    raise UserError(f"unknown flow method {name!r}; choose one of {', '.join(FLOW_METHODS)}")


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` at x + flow(x): with the flow current -> previous, brings the previous frame onto the
    current one. Points that leave the frame take the border value."""
    _, _, h, w = image.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=image.device), torch.arange(w, device=image.device),
                            indexing="ij")
    x = (xs + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    y = (ys + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([x, y], dim=-1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency_mask(flow_back: torch.Tensor, flow_fwd: torch.Tensor) -> torch.Tensor:
    """1 where the current -> previous flow and the previous -> current flow undo each other (Sundaram et al.'s
    test, as in Ruder et al.), 0 at occlusions and flow errors. (1, 1, H, W)."""
    fwd_at = warp(flow_fwd, flow_back)  # the forward flow at the point each current pixel came from
    round_trip = (flow_back + fwd_at).pow(2).sum(1)
    tolerance = 0.01 * (flow_back.pow(2).sum(1) + fwd_at.pow(2).sum(1)) + 0.5
    h, w = flow_back.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, device=flow_back.device), torch.arange(w, device=flow_back.device),
                            indexing="ij")
    x, y = xs + flow_back[:, 0], ys + flow_back[:, 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return ((round_trip <= tolerance) & inside).float().unsqueeze(1)


def warping_error(current: torch.Tensor, previous: torch.Tensor, flow_back: torch.Tensor,
                  mask: torch.Tensor) -> float:
    """Mean squared difference between ``current`` and ``previous`` warped onto it, over consistent pixels."""
    diff = (current - warp(previous, flow_back)).pow(2).mean(1, keepdim=True)
    return float((diff * mask).sum() / mask.sum().clamp(min=1))
