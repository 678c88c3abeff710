"""Trained networks on disk: safetensors (tensors only: nothing is unpickled or executed on load) with the
JSON metadata needed to rebuild the network and say what produced it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nst_bench.errors import UserError


def save_network_file(module: torch.nn.Module, path: Path, header: dict[str, Any]) -> Path:
    """Write the state dict and ``header``; through a temp file and a rename, so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp),
              metadata={k: json.dumps(v, default=str) for k, v in header.items()})
    os.replace(tmp, path)
    return path


def load_network_file(path: str | Path, fmt: str, what: str, hint: str) -> tuple[dict[str, torch.Tensor],
                                                                                  dict[str, Any]]:
    """(tensors, metadata) of a file written by ``save_network_file`` with ``header['format'] == fmt``."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} not found: {p}; {hint}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        tensors = load_file(str(p))
    except Exception as e:  # safetensors raises its own error types for foreign files
        raise UserError(f"{p} is not a safetensors file ({e}): {hint}") from e
    if meta.get("format") != fmt:
        raise UserError(f"{p} is not a {what} written by nst-bench (format {meta.get('format')!r}): {hint}")
    return tensors, meta
