"""`sarssm export`: every exported format focuses like the PyTorch model it came from."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from deploy_support import model_input, noise, rel_err, swath, tiny

from sarssm.cli import main
from sarssm.data.normalize import ComplexScaler
from sarssm.deploy import lti, numpy_step
from sarssm.deploy.export import export_model, export_numpy, export_onnx, export_torchscript
from sarssm.deploy.torch_modules import composite_kernel
from sarssm.errors import ConfigError
from sarssm.models import build_model, save_model

RTOL = 2e-5  # of the peak, as tests/deploy/test_stream.py asserts for the streaming backends
SCALER = ComplexScaler(input_scale=3.0, target_scale=0.25)


# --- helpers ---------------------------------------------------------------------------------
def reference(model, lines: np.ndarray, r: np.ndarray, scaler=SCALER) -> np.ndarray:
    """model(x / s_in, r, aligned=True) * s_out as [W, L] complex: the PyTorch output."""
    x = model_input(model, lines) / np.float32(scaler.input_scale)
    with torch.no_grad():
        y = model(torch.from_numpy(x), torch.from_numpy(r), aligned=True)
    return y.numpy() * np.float32(scaler.target_scale)


def pairs(z: np.ndarray) -> np.ndarray:
    """Complex -> float32 real pairs [..., 2]."""
    return np.stack([z.real, z.imag], axis=-1).astype(np.float32)


def complex_of(p: np.ndarray) -> np.ndarray:
    return p[..., 0] + 1j * p[..., 1]


def taps_of(out: Path, r: np.ndarray) -> np.ndarray:
    """Pre-filter taps [W, K, 2] float32 from the export's own arrays."""
    return pairs(numpy_step.prefilter_taps(numpy_step.load(out / "student.npz"), r))


def import_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stream_with(
    step_module, w: dict, lines: np.ndarray, r: np.ndarray | None, taps=None, columns=None
) -> np.ndarray:
    """Every line through `step_module.Stream` (push, then flush): [W, L] complex64. `taps`
    [W, K] replaces the pre-filter taps the stream computes from `r`."""
    stream = step_module.Stream(w, r, columns)
    if taps is not None:
        stream.taps[...] = taps.T  # [K, W]
    out = [y for y in (stream.push(line) for line in lines) if y is not None]
    return np.concatenate([np.array(out).reshape(-1, lines.shape[1]), stream.flush()]).T


# --- numpy -----------------------------------------------------------------------------------
NO_TORCH = """
import sys
sys.modules["torch"] = None  # an import of torch or sarssm now raises ImportError
sys.modules["sarssm"] = None
folder, data = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)
import numpy as np
import numpy_step

w = numpy_step.load(folder + "/student.npz")
d = np.load(data)
stream = numpy_step.Stream(w, d["r"])
out = [y for y in (stream.push(line) for line in d["lines"]) if y is not None]
y = np.concatenate([np.array(out).reshape(-1, d["lines"].shape[1]), stream.flush()])
np.save(data + ".out.npy", y)
for name in ("torch", "sarssm"):
    try:
        __import__(name)
        raise SystemExit(name + " imported")
    except ImportError:
        pass
loaded = [m for m in sys.modules if m.split(".")[0] in ("torch", "sarssm") and sys.modules[m]]
print("no torch:", loaded)
"""


def test_numpy_export_streams_like_the_model_without_torch(tmp_path: Path) -> None:
    model = tiny(0)
    out = tmp_path / "export"
    manifest = export_numpy(model, SCALER, out, source="runs/x")
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "numpy_step.py", "student.npz"]
    assert (out / "numpy_step.py").read_bytes() == Path(numpy_step.__file__).read_bytes()
    with np.load(out / "student.npz", allow_pickle=False) as f:
        assert {"w_in", "dA", "dB", "C", "D", "mix", "head", "pf_matrix"} <= set(f.files)
        assert all(f[k].dtype != object for k in f.files)
    on_disk = json.loads((out / "export.json").read_text())
    assert on_disk == manifest
    assert manifest["formats"] == ["numpy"] and manifest["normalization"] == SCALER.to_dict()
    assert manifest["model"]["config"]["name"] == "demo-tiny" and manifest["delay"] == 60
    for name, info in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == info["sha256"]

    W = 4
    lines, r = noise(model.delay + 30, W), swath(model, W)
    data = tmp_path / "lines.npz"
    np.savez(data, lines=lines, r=r)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(NO_TORCH))
    done = subprocess.run(
        [sys.executable, "-I", str(script), str(out), str(data)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "no torch: []" in done.stdout
    got = np.load(str(data) + ".out.npy").T  # [W, L]
    err = rel_err(got, reference(model, lines, r))
    assert err < RTOL, f"numpy export differs from the model by {err:.2e} of the peak"


def test_the_numpy_parity_check_sees_a_perturbed_weight(tmp_path: Path) -> None:
    """Scaling one layer's mixing by 1 + 1e-3 (or the gain by 1e-3) fails the parity bound."""
    model = tiny(1)
    out = tmp_path / "export"
    export_numpy(model, SCALER, out)
    step = import_file(out / "numpy_step.py", "exported_numpy_step")
    W = 3
    lines, r = noise(model.delay + 20, W, seed=1), swath(model, W)
    y = reference(model, lines, r)
    w = step.load(out / "student.npz")
    assert rel_err(stream_with(step, w, lines, r), y) < RTOL
    for key, scale in (("mix", 1.001), ("head", 1.001), ("dB", 1.001)):
        bad = dict(w)
        bad[key] = (w[key] * np.complex64(scale)).astype(np.complex64)
        assert rel_err(stream_with(step, bad, lines, r), y) > RTOL, key


def test_numpy_stream_without_geometry_conditioning_takes_a_column_count() -> None:
    torch.manual_seed(4)
    model = build_model("demo-ultra", geometry="none").eval()
    w = lti.lti_arrays(model, SCALER)
    W = 3
    lines, r = noise(model.delay + 20, W), swath(model, W)
    got = stream_with(numpy_step, w, lines, None, columns=W)
    assert rel_err(got, reference(model, lines, r)) < RTOL
    with pytest.raises(ValueError, match="columns=W"):
        numpy_step.Stream(w)
    with pytest.raises(ValueError, match="slant_range"):  # a conditioned student needs them
        numpy_step.Stream(lti.lti_arrays(tiny(0), SCALER), columns=W)


# --- ONNX and TorchScript ---------------------------------------------------------------------
CASES = [
    pytest.param("demo-tiny", {"range_neighbours": 1}, id="tiny-neighbours"),
    pytest.param("demo-ultra", {}, id="ultra"),
    pytest.param("demo-ultra", {"geometry": "none"}, id="ultra-no-prefilter"),
]


def graph_inputs(model, out: Path, lines: np.ndarray, r: np.ndarray):
    """(x [W, L, C, 2], taps [W, K, 2]) real pairs of the conv graphs."""
    return pairs(model_input(model, lines)), taps_of(out, r)


def step_loop(run_step, x: np.ndarray, taps: np.ndarray, model, manifest) -> np.ndarray:
    """Feed x [W, L, C, 2] then d zero rows through a step function: the aligned [W, L]."""
    W, L, C, _ = x.shape
    d, K, s = model.delay, manifest["prefilter_taps"], manifest["state"]
    history = np.zeros((W, K - 1, C, 2), np.float32)
    state = np.zeros((W, s["layers"], s["width"], s["modes"], 2), np.float32)
    xs = np.concatenate([x, np.zeros((W, d, C, 2), np.float32)], axis=1)
    ys = []
    for t in range(L + d):
        y_t, history, state = run_step(np.ascontiguousarray(xs[:, t]), taps, history, state)
        ys.append(y_t)
    return complex_of(np.stack(ys, axis=1)[:, d:])


@pytest.mark.parametrize(("preset", "overrides"), CASES)
def test_onnx_conv_and_step_match_the_model(tmp_path: Path, preset: str, overrides) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    model = build_model(preset, **overrides).eval()
    L = 40
    out = tmp_path / "export"
    manifest = export_onnx(model, SCALER, out, length=L)
    assert {"student_conv.onnx", "student_step.onnx", "student.npz"} <= set(manifest["files"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    cpu = ["CPUExecutionProvider"]
    conv = ort.InferenceSession(str(out / "student_conv.onnx"), options, providers=cpu)
    step = ort.InferenceSession(str(out / "student_step.onnx"), options, providers=cpu)
    meta = conv.get_modelmeta().custom_metadata_map
    assert meta["delay"] == str(model.delay) and meta["length"] == str(L)
    for W, seed in ((3, 0), (1, 1)):  # the batch (columns) axis is dynamic
        lines, r = noise(L, W, seed), swath(model, W)
        y = reference(model, lines, r)
        x, taps = graph_inputs(model, out, lines, r)
        got = complex_of(conv.run(None, {"x": x, "taps": taps})[0])
        assert rel_err(got, y) < RTOL, f"onnx conv: {rel_err(got, y):.2e}"

    def run_step(x_t, taps, history, state):
        feeds = {"x_t": x_t, "taps": taps, "history": history, "state": state}
        return step.run(None, feeds)

    got = step_loop(run_step, x, taps, model, manifest)
    assert rel_err(got, y) < RTOL, f"onnx step: {rel_err(got, y):.2e}"


def test_onnx_conv_graph_has_the_column_length_it_was_built_for(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = tiny(3)
    export_onnx(model, None, tmp_path / "e", length=16)
    conv = ort.InferenceSession(str(tmp_path / "e" / "student_conv.onnx"))
    shapes = {i.name: i.shape for i in conv.get_inputs()}
    assert shapes == {"x": ["B", 16, 1, 2], "taps": ["B", 11, 2]}
    assert conv.get_outputs()[0].shape == ["B", 16, 2]


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")
def test_torchscript_conv_and_step_match_the_model(tmp_path: Path) -> None:
    model = tiny(4, range_neighbours=1)
    L, W = 40, 3
    out = tmp_path / "export"
    manifest = export_torchscript(model, SCALER, out, length=L)
    extra = {"sarssm.json": ""}
    conv = torch.jit.load(str(out / "student_conv.pt"), _extra_files=extra)
    assert json.loads(extra["sarssm.json"])["mode"] == "conv"
    step = torch.jit.load(str(out / "student_step.pt"))
    lines, r = noise(L, W, seed=5), swath(model, W)
    y = reference(model, lines, r)
    x, taps = graph_inputs(model, out, lines, r)
    with torch.no_grad():
        got = complex_of(conv(torch.from_numpy(x), torch.from_numpy(taps)).numpy())
    assert rel_err(got, y) < RTOL, f"torchscript conv: {rel_err(got, y):.2e}"

    def run_step(x_t, taps, history, state):
        with torch.no_grad():
            outs = step(*(torch.from_numpy(a) for a in (x_t, taps, history, state)))
        return [o.numpy() for o in outs]

    got = step_loop(run_step, x, taps, model, manifest)
    assert rel_err(got, y) < RTOL, f"torchscript step: {rel_err(got, y):.2e}"


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:DeprecationWarning")
def test_graphs_apply_any_taps_like_the_numpy_reference(tmp_path: Path) -> None:
    """The model's taps are symmetric (its range filter is even in Doppler), which would hide
    a reversed tap order: random taps against `numpy_step.Stream` (tap i on x[t - i])."""
    model = tiny(9, range_neighbours=1)
    L, W = 30, 3
    out = tmp_path / "export"
    manifest = export_torchscript(model, SCALER, out, length=L)
    rng = np.random.default_rng(9)
    g = (rng.standard_normal((W, 11)) + 1j * rng.standard_normal((W, 11))).astype(np.complex64)
    lines, r = noise(L, W, seed=9), swath(model, W)
    want = stream_with(numpy_step, numpy_step.load(out / "student.npz"), lines, r, taps=g)
    x, taps = pairs(model_input(model, lines)), pairs(g)
    conv = torch.jit.load(str(out / "student_conv.pt"))
    step = torch.jit.load(str(out / "student_step.pt"))
    with torch.no_grad():
        got = complex_of(conv(torch.from_numpy(x), torch.from_numpy(taps)).numpy())
    assert rel_err(got, want) < RTOL, f"conv with random taps: {rel_err(got, want):.2e}"

    def run_step(x_t, taps, history, state):
        with torch.no_grad():
            outs = step(*(torch.from_numpy(a) for a in (x_t, taps, history, state)))
        return [o.numpy() for o in outs]

    got = step_loop(run_step, x, taps, model, manifest)
    assert rel_err(got, want) < RTOL, f"step with random taps: {rel_err(got, want):.2e}"


def test_composite_kernel_is_the_models_impulse_response() -> None:
    model = tiny(5, range_neighbours=1)
    arrays = lti.lti_arrays(model, SCALER)
    with torch.no_grad():  # lti.composite_kernel runs the model with autograd on
        want = lti.composite_kernel(model, 80) * (SCALER.target_scale / SCALER.input_scale)
    assert rel_err(composite_kernel(arrays, 80), want) < 1e-5


# --- refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec",
    [dict(selectivity="gate"), dict(activation="modrelu"), dict(direction="bidirectional")],
    ids=["selective", "modrelu", "bidirectional"],
)
def test_models_that_are_not_lti_are_refused(tmp_path: Path, spec) -> None:
    model = build_model("demo-ultra", **spec)
    with pytest.raises(ConfigError, match="causal LTI student"):
        export_model(model, tmp_path / "e", formats="all")
    assert not (tmp_path / "e").exists()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    model = tiny(6)
    with pytest.raises(ConfigError, match="format"):
        export_model(model, tmp_path / "a", formats="tflite")
    with pytest.raises(ConfigError, match="--length"):
        export_model(model, tmp_path / "b", formats="onnx", length=0)
    (tmp_path / "c").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        export_numpy(model, None, tmp_path / "c")
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


# --- CLI -------------------------------------------------------------------------------------
def saved_run(tmp_path: Path, name: str = "run", **overrides) -> tuple[Path, object]:
    """A run folder with best/ = model.safetensors + model.yaml + normalization.json."""
    torch.manual_seed(7)
    model = build_model("demo-ultra", **overrides).eval()
    run = tmp_path / name
    save_model(model, run / "best")
    SCALER.save(run / "best" / "normalization.json")
    return run, model


def test_cli_exports_every_format_end_to_end(tmp_path: Path, capsys) -> None:
    ort = pytest.importorskip("onnxruntime")
    run, model = saved_run(tmp_path)
    out = tmp_path / "exported"
    L = 24
    assert main(["export", "--model", str(run), "--format", "all", "--out", str(out),
                 "--length", str(L)]) == 0  # fmt: skip
    assert "exported 'demo-ultra'" in capsys.readouterr().out
    manifest = json.loads((out / "export.json").read_text())
    assert manifest["formats"] == ["numpy", "onnx", "torchscript"]
    assert manifest["source"] == str((run / "best").resolve())
    assert manifest["normalization"] == SCALER.to_dict() and manifest["length"] == L
    names = {"student.npz", "numpy_step.py", "student_conv.onnx", "student_step.onnx",
             "student_conv.pt", "student_step.pt"}  # fmt: skip
    assert set(manifest["files"]) == names
    assert {p.name for p in out.iterdir()} == names | {"export.json"}
    for name, info in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == info["sha256"]
    # the loaded model with its normalization.json, through the exported ONNX graph
    W = 2
    lines, r = noise(L, W, seed=8), swath(model, W)
    x, taps = graph_inputs(model, out, lines, r)
    conv = ort.InferenceSession(str(out / "student_conv.onnx"))
    got = complex_of(conv.run(None, {"x": x, "taps": taps})[0])
    assert rel_err(got, reference(model, lines, r)) < RTOL

    # an existing --out is refused, and replaced with --overwrite
    assert main(["export", "--model", str(run), "--out", str(out), "--format", "numpy"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "student_conv.onnx").exists()
    assert main(["export", "--model", str(run / "best"), "--out", str(out), "--format",
                 "numpy", "--overwrite"]) == 0  # fmt: skip
    assert {p.name for p in out.iterdir()} == {"student.npz", "numpy_step.py", "export.json"}


def test_cli_refuses_bad_input_with_exit_2(tmp_path: Path, capsys) -> None:
    run, _ = saved_run(tmp_path)
    assert main(["export", "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    gated, _ = saved_run(tmp_path, "gated", selectivity="gate")
    assert main(["export", "--model", str(gated), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "causal LTI student" in err and len(err.strip().splitlines()) == 1
    assert main(["export", "--model", str(run), "--out", str(tmp_path / "o"), "--length=0"]) == 2
    assert "--length" in capsys.readouterr().err
    assert main(["export", "--model", str(run), "--out", str(run / "best"), "--overwrite"]) == 2
    assert "would replace the model folder" in capsys.readouterr().err
    assert (run / "best" / "model.yaml").is_file()
    assert not (tmp_path / "o").exists()
