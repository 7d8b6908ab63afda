"""ONNX and TorchScript files of an LTI student's real-valued modules (`torch_modules`).

ONNX goes through torch's TorchScript-based exporter (`torch.onnx.export(..., dynamo=False)`),
which needs neither onnxscript nor a torch.export trace; TorchScript through `torch.jit.script`.
torch 2.13 marks both as deprecated (DeprecationWarning); the warnings are silenced here, and
the files are checked by loading them back in the tests (onnxruntime, `torch.jit.load`).

Every graph has a dynamic batch (columns) axis B; the conv graph has a fixed column length L.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from sarssm.deploy.torch_modules import ConvStudent, StepStudent

OPSET = 17
CONV_INPUTS = ("x", "taps")
CONV_OUTPUTS = ("y",)
STEP_INPUTS = ("x_t", "taps", "history", "state")
STEP_OUTPUTS = ("y_t", "history_out", "state_out")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide torch's DeprecationWarnings (legacy ONNX exporter, `torch.jit`) inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch(\..*)?$")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*TorchScript.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        yield


def example_inputs(module: ConvStudent | StepStudent, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Zero inputs of the right shapes (the tracing example of the ONNX export)."""
    if isinstance(module, ConvStudent):
        x = torch.zeros(batch, module.L, module.C, 2)
        taps = torch.zeros(batch, module.K, 2)
        return x, taps
    history, state = module.initial(batch)
    return torch.zeros(batch, module.C, 2), torch.zeros(batch, module.K, 2), history, state


def _onnx_bytes(
    module: torch.nn.Module,
    inputs: tuple[torch.Tensor, ...],
    names: tuple[str, ...],
    outputs: tuple[str, ...],
    metadata: dict[str, str],
) -> bytes:
    import onnx

    axes = {name: {0: "B"} for name in (*names, *outputs)}
    buffer = io.BytesIO()
    with quiet(), torch.no_grad():
        torch.onnx.export(
            module.eval(),
            inputs,
            buffer,
            dynamo=False,
            input_names=list(names),
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
        results = module(*inputs)
    results = results if isinstance(results, tuple) else (results,)
    proto = onnx.load_from_string(buffer.getvalue())
    for output, result in zip(proto.graph.output, results, strict=True):
        dims = output.type.tensor_type.shape.dim  # the exporter names some fixed dims
        for dim, size in zip(dims[1:], result.shape[1:], strict=True):
            dim.Clear()
            dim.dim_value = int(size)
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def student_modules(arrays: dict[str, np.ndarray], length: int) -> tuple[ConvStudent, StepStudent]:
    """(conv module for columns of `length` rows, step module) of an LTI student's arrays."""
    return ConvStudent(arrays, length).eval(), StepStudent(arrays).eval()


def onnx_files(conv: ConvStudent, step: StepStudent, metadata: dict[str, str]) -> dict[str, bytes]:
    """{"student_conv.onnx": ..., "student_step.onnx": ...}; `metadata` goes into each
    graph's metadata_props (with "mode": "conv" or "step")."""
    return {
        "student_conv.onnx": _onnx_bytes(
            conv, example_inputs(conv), CONV_INPUTS, CONV_OUTPUTS, {**metadata, "mode": "conv"}
        ),
        "student_step.onnx": _onnx_bytes(
            step, example_inputs(step), STEP_INPUTS, STEP_OUTPUTS, {**metadata, "mode": "step"}
        ),
    }


def torchscript_files(
    conv: ConvStudent, step: StepStudent, metadata: dict[str, str]
) -> dict[str, bytes]:
    """{"student_conv.pt": ..., "student_step.pt": ...}: `torch.jit.script` of the modules,
    `metadata` stored as the archive's extra file "sarssm.json"."""
    out = {}
    for name, module in (("student_conv.pt", conv), ("student_step.pt", step)):
        mode = "conv" if name == "student_conv.pt" else "step"
        extra = {"sarssm.json": json.dumps({**metadata, "mode": mode})}
        buffer = io.BytesIO()
        with quiet():
            scripted = torch.jit.script(module.eval())
            torch.jit.save(scripted, buffer, _extra_files=extra)
        out[name] = buffer.getvalue()
    return out
