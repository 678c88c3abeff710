"""Engstrom's pretrained fast style-transfer networks (``fast-style-transfer``, TensorFlow, 2016), read from the
deeplearn.js checkpoint format: a folder with ``manifest.json`` (variable name -> file name and shape) and one raw
little-endian float32 file per variable. Johnson et al.'s architecture as Engstrom trained it: a reference for the
networks nst-bench trains, so it is rebuilt here layer for layer, TensorFlow's ``SAME`` padding included.

The weights are for research and non-commercial use (Engstrom's notice): nst-bench reads them from where the user
keeps them and never ships them.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nst_bench.errors import UserError

FORMAT = "engstrom/deeplearnjs"
# (kind, stride, relu) of the 16 layers, in variable order: each takes a kernel and an instance norm's shift, scale
LAYERS = ([("conv", 1, True), ("conv", 2, True), ("conv", 2, True)]
          + [("conv", 1, True), ("conv", 1, False)] * 5
          + [("transpose", 2, True), ("transpose", 2, True), ("conv", 1, False)])
EPSILON = 1e-3  # Engstrom's instance norm: (x - mean) / sqrt(biased variance + 1e-3)


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow ``SAME`` padding for a convolution: output ceil(size / stride), the odd pixel at the bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class EngstromNet(nn.Module):
    """RGB [0, 1] in, RGB [0, 1] out (the network itself works in 0..255 and ends in ``tanh * 150 + 127.5``)."""

    n_styles = 1

    def __init__(self, kernels: list[torch.Tensor], shifts: list[torch.Tensor], scales: list[torch.Tensor]) -> None:
        super().__init__()
        self.kernels = nn.ParameterList(nn.Parameter(k, requires_grad=False) for k in kernels)
        self.shifts = nn.ParameterList(nn.Parameter(s, requires_grad=False) for s in shifts)
        self.scales = nn.ParameterList(nn.Parameter(s, requires_grad=False) for s in scales)

    def layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        kind, stride, relu = LAYERS[i]
        kernel = self.kernels[i]
        if kind == "conv":
            x = F.conv2d(same_pad(x, kernel.shape[-1], stride), kernel, stride=stride)
        else:  # TF conv2d_transpose, SAME, stride 2 == torch's with no padding, cropped to twice the input
            h, w = x.shape[-2:]
            x = F.conv_transpose2d(x, kernel, stride=stride)[..., : h * stride, : w * stride]
        var, mean = torch.var_mean(x, dim=(-2, -1), keepdim=True, correction=0)
        x = (x - mean) / torch.sqrt(var + EPSILON) * self.scales[i][:, None, None] + self.shifts[i][:, None, None]
        return F.relu(x) if relu else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layer(0, x * 255)
        y = self.layer(2, self.layer(1, y))
        for block in range(5):
            y = y + self.layer(4 + 2 * block, self.layer(3 + 2 * block, y))
        y = self.layer(15, self.layer(14, self.layer(13, y)))
        return ((torch.tanh(y) * 150 + 127.5).clamp(0, 255) / 255)[..., : x.shape[-2], : x.shape[-1]]

    def stylize(self, x: torch.Tensor, style_weights: Any = None) -> torch.Tensor:
        """The same call as a TransformerNet's; the network has one style, so ``style_weights`` is ignored."""
        return self(x)


def is_engstrom_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "manifest.json").is_file()


def folder_sha256(folder: Path) -> str:
    """One digest of the manifest and every variable file, in manifest order."""
    digest = hashlib.sha256((folder / "manifest.json").read_bytes())
    for entry in json.loads((folder / "manifest.json").read_text()).values():
        digest.update((folder / entry["filename"]).read_bytes())
    return digest.hexdigest()


def read_variables(folder: Path) -> dict[str, np.ndarray]:
    manifest = json.loads((folder / "manifest.json").read_text())
    arrays = {}
    for name, entry in manifest.items():
        raw = np.fromfile(folder / entry["filename"], dtype="<f4")
        if raw.size != math.prod(entry["shape"]):
            raise UserError(f"{folder / entry['filename']} holds {raw.size} floats but manifest.json says shape "
                            f"{entry['shape']}: the checkpoint is damaged; fetch it again")
        arrays[name] = raw.reshape(entry["shape"])
    return arrays


def load_engstrom(folder: str | Path) -> tuple[EngstromNet, dict[str, Any]]:
    """The network (eval mode, frozen) and its metadata from a deeplearn.js checkpoint folder."""
    folder = Path(folder)
    if not is_engstrom_checkpoint(folder):
        raise UserError(f"{folder} has no manifest.json: give a folder of Engstrom's deeplearn.js checkpoint "
                        "(e.g. fast_style_transfer/la_muse)")
    arrays = read_variables(folder)
    names = [f"Variable_{i}" if i else "Variable" for i in range(3 * len(LAYERS))]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise UserError(f"{folder}/manifest.json lacks {', '.join(missing[:3])}: not a 16-layer Engstrom network")
    tensors = [torch.from_numpy(arrays[n].copy()) for n in names]
    kernels = [t.permute(3, 2, 0, 1).contiguous() for t in tensors[0::3]]  # [kh, kw, a, b] -> [b, a, kh, kw]
    net = EngstromNet(kernels, tensors[1::3], tensors[2::3])
    meta = {"format": FORMAT, "n_styles": 1, "styles": [], "name": folder.name, "sha256": folder_sha256(folder)}
    return net.eval(), meta
