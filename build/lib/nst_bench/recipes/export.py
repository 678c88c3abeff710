"""Export the feed-forward methods for deployment: TorchScript (``.pt``) or ONNX (``.onnx``).

Every export is checked before it is reported: the exported file is loaded back and run on an input of a size
different from the one it was exported with, and the largest difference from the eager model is returned.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch

from nst_bench.errors import UserError
from nst_bench.methods.registry import Deployable, get_method

FORMATS = {".pt": "torchscript", ".onnx": "onnx"}


def check_inputs(d: Deployable) -> dict[str, torch.Tensor]:
    """Inputs of other sizes than the example ones, including sizes not divisible by the network's strides."""
    sizes = {"image": (2, 3, 200, 298), "content": (1, 3, 200, 296), "style": (1, 3, 160, 232)}
    out = {k: torch.rand(sizes[k]) if k in sizes else v for k, v in d.inputs.items()}
    if "style_weights" in out:
        out["style_weights"] = out["style_weights"].expand(2, -1).contiguous()
    if "alpha" in out:
        out["alpha"] = torch.tensor(0.7)
    return out


def export(method: str, out: str | Path, checkpoint: str | None = None) -> dict[str, object]:
    """Write the exported model to ``out`` (format from the suffix) and check it against the eager model."""
    out = Path(out)
    fmt = FORMATS.get(out.suffix)
    if fmt is None:
        raise UserError(f"unknown export format {out.suffix!r}: name the output .pt (TorchScript) or .onnx (ONNX)")
    d = get_method(method).deployable(checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice and tracer warnings about shapes
        if fmt == "torchscript":
            # scripting keeps a network's size logic; AdaIN's encoder picks layers in Python, so it is traced
            scripted = (torch.jit.script(d.module) if d.scriptable
                        else torch.jit.trace(d.module, tuple(d.inputs.values())))
            scripted.save(str(out))
        else:
            torch.onnx.export(d.module, tuple(d.inputs.values()), str(out), input_names=list(d.inputs),
                              output_names=["stylized"], dynamic_axes=d.dynamic, dynamo=False)
    seconds = time.perf_counter() - t0
    inputs = check_inputs(d)
    with torch.no_grad():
        expected = d.module(*inputs.values())
        got = run_exported(out, inputs)
    return {"path": str(out), "format": fmt, "seconds": seconds, "bytes": out.stat().st_size,
            "check_shape": tuple(got.shape), "max_abs_diff": float((got - expected).abs().max())}


def run_exported(path: Path, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run an exported file the way a deployment would: torch.jit.load, or an ONNX Runtime session."""
    if path.suffix == ".pt":
        return torch.jit.load(str(path))(*inputs.values())
    try:
        import onnxruntime as ort
    except ImportError:
        raise UserError("checking an ONNX export needs onnxruntime: pip install 'nst-bench[export]'") from None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}  # ONNX drops inputs that became constants
    return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in inputs.items() if k in names})[0])
