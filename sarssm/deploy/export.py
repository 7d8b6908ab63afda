"""Export an LTI student: numpy (`.npz` + the numpy-only step file), ONNX and TorchScript.

Symbols: B columns, L rows of a column (conv graphs), C = 2k + 1 input channels, K = 2J + 1
pre-filter taps, Ly layers, H width, N complex modes per channel, d delay.

Every export is built from one description, `sarssm.deploy.lti.lti_arrays(model, scaler)`
(normalisation folded into the head, so every file maps product units to product units), and
written atomically as one folder:

    student.npz, numpy_step.py       every format: the arrays (no pickle) and the numpy-only
                                     streaming file; `numpy_step.prefilter_taps` also gives
                                     the taps [B, K] the graphs below take as an input
    student_conv.onnx / .pt          onnx / torchscript: x [B, L, C, 2], taps [B, K, 2]
                                     -> y [B, L, 2], the aligned whole-column output
    student_step.onnx / .pt          onnx / torchscript: one azimuth sample with explicit
                                     state (`sarssm.deploy.torch_modules.StepStudent`)
    export.json                      provenance: model, source, formats, versions, sha256

Non-LTI models (selective, modReLU, bidirectional) are refused with a `ConfigError`.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from sarssm.deploy import numpy_step
from sarssm.deploy.lti import check_lti, lti_arrays, state_shape
from sarssm.errors import ConfigError

FORMATS = ("numpy", "onnx", "torchscript")
FORMAT = "sarssm-export/1"
MANIFEST = "export.json"
DEFAULT_LENGTH = 1000  # rows of the conv graphs: the earlier pipeline's 1000 x 1 patch
NUMPY_FILES = ("student.npz", "numpy_step.py")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def numpy_files(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """{"student.npz": np.savez of the arrays, "numpy_step.py": a byte copy of
    `sarssm/deploy/numpy_step.py`}. Every entry is a plain array (allow_pickle=False loads it)."""
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise ConfigError(f"export: array {key!r} is not a plain numpy array")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return {
        "student.npz": buffer.getvalue(),
        "numpy_step.py": Path(numpy_step.__file__).read_bytes(),
    }


def _formats(formats: str | Iterable[str]) -> list[str]:
    wanted = [formats] if isinstance(formats, str) else list(formats)
    if "all" in wanted:
        wanted = list(FORMATS)
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise ConfigError(f"export: format {bad or wanted} not in {[*FORMATS, 'all']}")
    if "onnx" in wanted:
        try:
            import onnx  # noqa: F401
        except ModuleNotFoundError:
            raise ConfigError(
                "export: format onnx needs the onnx package (pip install 'sarssm[export]')"
            ) from None
    return [f for f in FORMATS if f in wanted]


def _check_out(out_dir: Path, source: Path | None, overwrite: bool) -> None:
    if out_dir.exists() and not overwrite:
        raise ConfigError(f"--out {out_dir}: already exists (pass --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if source is not None:
        out, src = out_dir.resolve(), Path(source).resolve()
        if out == src or out in src.parents:
            raise ConfigError(f"--out {out_dir}: would replace the model folder {source}")


def export_model(
    model: Any,
    out_dir: str | Path,
    scaler: Any = None,
    formats: str | Iterable[str] = FORMATS,
    length: int = DEFAULT_LENGTH,
    source: str | Path | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the export folder `out_dir` (see the module docstring) and return its manifest.

    Args:
        model: a causal LTI `SarSSM` (selectivity and activation none, direction causal).
        out_dir: the folder to write, atomically; an existing one only with `overwrite`.
        scaler: the model's `ComplexScaler` (None: the model's normalised units).
        formats: "numpy", "onnx", "torchscript", "all" or a list of them.
        length: L, the column length (rows) of the conv graphs.
        source: the model folder, recorded in export.json.
    Returns:
        the manifest written as export.json.
    """
    from sarssm import __version__
    from sarssm.config import to_dict
    from sarssm.io import atomic_dir, atomic_write_bytes, atomic_write_text

    check_lti(model, "export")
    wanted = _formats(formats)
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ConfigError(f"export: --length must be a positive number of rows, got {length!r}")
    out_dir = Path(out_dir)
    _check_out(out_dir, None if source is None else Path(source), overwrite)

    arrays = lti_arrays(model, scaler)
    Ly, H, N = state_shape(arrays)
    K = 2 * int(arrays["prefilter_half_taps"]) + 1
    meta = {
        "sarssm_format": FORMAT,
        "sarssm_version": __version__,
        "name": model.config.name,
        "delay": str(model.delay),
        "length": str(length),
        "taps": str(K),
    }
    files = {name: ("numpy", data) for name, data in numpy_files(arrays).items()}
    versions: dict[str, str] = {"sarssm": __version__, "numpy": np.__version__}
    if "onnx" in wanted or "torchscript" in wanted:
        import torch

        from sarssm.deploy import onnx_export

        versions["torch"] = torch.__version__
        modules = onnx_export.student_modules(arrays, length)
        if "onnx" in wanted:
            import onnx

            versions["onnx"] = onnx.__version__
            for name, data in onnx_export.onnx_files(*modules, meta).items():
                files[name] = ("onnx", data)
        if "torchscript" in wanted:
            for name, data in onnx_export.torchscript_files(*modules, meta).items():
                files[name] = ("torchscript", data)

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "formats": wanted,
        "model": {"name": model.config.name, "config": to_dict(model.config)},
        "source": None if source is None else str(Path(source).resolve()),
        "normalization": None if scaler is None else scaler.to_dict(),
        "gain": float(arrays["gain"]),
        "delay": model.delay,
        "length": None if wanted == ["numpy"] else length,  # L of the conv graphs
        "input_channels": int(arrays["w_in"].shape[1]),
        "range_neighbours": int(arrays["range_neighbours"]),
        "prefilter_taps": K,
        "state": {"layers": Ly, "width": H, "modes": N},
        "slant_range_m": (
            [float(arrays["range_min_m"]), float(arrays["range_max_m"])]
            if "pf_matrix" in arrays
            else None
        ),
        "versions": versions,
        "files": {
            name: {"format": fmt, "bytes": len(data), "sha256": _sha256(data)}
            for name, (fmt, data) in sorted(files.items())
        },
    }
    if "onnx" in wanted:
        from sarssm.deploy.onnx_export import OPSET

        manifest["onnx_opset"] = OPSET
    try:
        with atomic_dir(out_dir, overwrite=overwrite) as tmp:
            for name, (_, data) in files.items():
                atomic_write_bytes(tmp / name, data)
            atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    except FileExistsError:
        raise ConfigError(
            f"--out {out_dir}: already exists (pass --overwrite to replace it)"
        ) from None
    return manifest


def export_numpy(model: Any, scaler: Any, out_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """`export_model` with the numpy format only: student.npz, numpy_step.py, export.json."""
    return export_model(model, out_dir, scaler, formats=("numpy",), **kwargs)


def export_onnx(model: Any, scaler: Any, out_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """`export_model` with the onnx format: student_{conv,step}.onnx (+ the numpy files)."""
    return export_model(model, out_dir, scaler, formats=("onnx",), **kwargs)


def export_torchscript(
    model: Any, scaler: Any, out_dir: str | Path, **kwargs: Any
) -> dict[str, Any]:
    """`export_model` with the torchscript format: student_{conv,step}.pt (+ the numpy files)."""
    return export_model(model, out_dir, scaler, formats=("torchscript",), **kwargs)


def export_folder(
    model_dir: str | Path,
    out_dir: str | Path,
    formats: str | Iterable[str] = "all",
    length: int = DEFAULT_LENGTH,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the model saved in `model_dir` (a model folder, or a run folder holding best/,
    final_student_model/ or last/), with its normalization.json when there is one."""
    from sarssm.data.normalize import ComplexScaler
    from sarssm.eval.evaluate import model_folder
    from sarssm.models import load_model
    from sarssm.models.io import load_config

    folder = model_folder(model_dir)
    check_lti(SimpleNamespace(config=load_config(folder)), "export")  # before the weights
    _formats(formats)
    _check_out(Path(out_dir), folder, overwrite)
    scale_file = folder / "normalization.json"
    scaler = ComplexScaler.load(scale_file) if scale_file.is_file() else None
    model = load_model(folder)
    return export_model(model, out_dir, scaler, formats, length, folder, overwrite)
