"""`focus_product` and `sarssm focus`: block-wise focusing equals one whole-column pass."""

from __future__ import annotations

import hashlib
import shutil
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from deploy_support import rel_err, tiny

from sarssm import __version__
from sarssm.cli import main
from sarssm.data.normalize import ComplexScaler
from sarssm.data.store import ProductWriter, open_product, write_product
from sarssm.deploy.focus import focus_product, load_focuser
from sarssm.errors import ConfigError, ProductError
from sarssm.eval.products import predict_product
from sarssm.focus.rda import azimuth_compress, focus_rc
from sarssm.models import save_model
from sarssm.physics.geometry import get_preset
from sarssm.sim.simulate import simulate

SCALER = ComplexScaler(2.0, 3.0)


def focused(path: Path) -> np.ndarray:
    return open_product(path).read("az")


def noise_product(path: Path, rows: int, cols: int, levels=("rc",), attrs=None) -> Path:
    """A product of white noise with the demo geometry (or `attrs`)."""
    geometry = get_preset("demo").replace(n_azimuth=rows, n_range=cols)
    rng = np.random.default_rng(rows + cols)
    arrays = {
        name: (rng.standard_normal((rows, cols)) + 1j * rng.standard_normal((rows, cols)))
        for name in levels
    }
    meta = {"geometry": geometry.to_attrs()} if attrs is None else attrs
    return write_product(path, arrays, meta)


@pytest.fixture(scope="module")
def long_product(tmp_path_factory) -> Path:
    """A 1024 x 16 `demo` product: several 200-row segments and 5-column blocks."""
    out = tmp_path_factory.mktemp("long")
    return simulate(out, "demo", "mixed", n_products=1, seed=0, progress=False, n_azimuth=1024)[0]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A saved LTI student (one range neighbour) with its normalization.json."""
    folder = tmp_path_factory.mktemp("model") / "demo-tiny"
    save_model(tiny(3, range_neighbours=1), folder)
    SCALER.save(folder / "normalization.json")
    return folder


# --- exactness: no seams ---------------------------------------------------------------------
@pytest.mark.parametrize("block_rows", [200, 64])
def test_lti_overlap_save_equals_one_whole_column_pass(long_product, tmp_path, block_rows):
    """Segments of 200 rows (and 64, shorter than the kernel) and blocks of 5 columns whose
    edge columns read neighbours from the next block: one single pass to float rounding."""
    model = tiny(1, range_neighbours=1)
    single = predict_product(model, open_product(long_product), SCALER)
    out = tmp_path / "out.zarr"
    s = focus_product(model, long_product, out, scaler=SCALER, block_columns=5,
                      block_rows=block_rows)  # fmt: skip
    assert s["engine"] == "lti-fft" and s["shape"] == [1024, 16]
    assert rel_err(focused(out), single) < 2e-5


def test_selective_state_carry_equals_one_whole_column_pass(long_product, tmp_path):
    model = tiny(2, selectivity="gate")
    single = predict_product(model, open_product(long_product), SCALER)
    out = tmp_path / "out.zarr"
    s = focus_product(model, long_product, out, scaler=SCALER, block_columns=7, block_rows=200)
    assert s["engine"] == "state-carry"
    assert rel_err(focused(out), single) < 2e-5


def test_bidirectional_model_focuses_whole_columns(demo_product, tmp_path):
    model = tiny(4, direction="bidirectional")
    single = predict_product(model, open_product(demo_product), SCALER)
    out = tmp_path / "out.zarr"
    s = focus_product(model, demo_product, out, scaler=SCALER, block_columns=6, block_rows=50)
    assert s["engine"] == "whole-columns"
    assert rel_err(focused(out), single) < 1e-6


def test_stream_mode_equals_conv_mode(long_product, tmp_path):
    model = tiny(5, range_neighbours=1)
    focuser = load_focuser(model, SCALER)
    conv, stream = tmp_path / "conv.zarr", tmp_path / "stream.zarr"
    focus_product(focuser, long_product, conv, block_columns=16, block_rows=1024)
    s = focus_product(focuser, long_product, stream, mode="stream", block_columns=6,
                      block_rows=300)  # fmt: skip
    assert s["engine"] == "stream"
    assert rel_err(focused(stream), focused(conv)) < 2e-5


def test_reference_in_column_blocks_equals_whole_focus_rc(tmp_path):
    """600 columns: three blocks of the RCMC grid (block_columns 100 rounds up to 256)."""
    src = noise_product(tmp_path / "wide.zarr", 128, 600)
    product = open_product(src)
    whole = focus_rc(product.read("rc"), product.geometry)
    out = tmp_path / "ref.zarr"
    s = focus_product("reference", src, out, block_columns=100)
    assert s["level"] == "rc" and s["engine"] == "range-doppler"
    assert rel_err(focused(out), whole["az"]) < 1e-6
    result = open_product(out)
    assert result.levels == ["rc", "az"]  # az created: the input had none
    assert result.attrs["focused_by"]["model_sha256"] == "reference"
    # level rcmc: azimuth compression only, any column blocks
    src2 = tmp_path / "rcmc.zarr"
    write_product(src2, {"rcmc": whole["rcmc"]}, dict(product.attrs))
    focus_product("reference", src2, tmp_path / "ref2.zarr", block_columns=7)
    want = azimuth_compress(whole["rcmc"], product.geometry)
    assert rel_err(focused(tmp_path / "ref2.zarr"), want) < 1e-6


# --- the output product ----------------------------------------------------------------------
def test_output_keeps_the_layout_and_adds_focused_by(demo_product, model_dir, tmp_path):
    out = tmp_path / "out.zarr"
    s = focus_product(model_dir, demo_product, out, block_columns=4, block_rows=100)
    src, dst = open_product(demo_product), open_product(out)
    assert dst.levels == src.levels == ["rc", "rcmc", "az"] and dst.shape == src.shape
    for name in ("rc", "rcmc"):
        np.testing.assert_array_equal(dst.read(name), src.read(name))
    for name in src.levels:
        assert dst.array(name).chunks == src.array(name).chunks
    assert not np.array_equal(dst.read("az"), src.read("az"))
    attrs = dict(dst.attrs)
    by = attrs.pop("focused_by")
    assert attrs == src.attrs
    sha = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert by["model"] == "demo-tiny" and by["model_folder"] == str(model_dir)
    assert by["model_sha256"] == sha
    assert (by["mode"], by["level"], by["sarssm_version"]) == ("conv", "rc", __version__)
    assert datetime.fromisoformat(by["date"]).tzinfo is not None
    assert s["out"] == str(out) and s["block_bytes"] > 0
    # the folder's normalisation was used: the same as the model with SCALER
    net = load_focuser(model_dir).net
    assert rel_err(dst.read("az"), predict_product(net, src, SCALER)) < 2e-5


def test_an_interrupted_run_leaves_no_partial_product(demo_product, tmp_path):
    calls = []

    def boom(done: int, total: int) -> None:
        calls.append(done)
        raise RuntimeError("interrupted")

    out = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError, match="interrupted"):
        focus_product(tiny(), demo_product, out, block_columns=4, progress=boom)
    assert calls == [4]  # raised inside the loop, after the first block
    assert list(tmp_path.iterdir()) == []  # no product, no temporary folder
    # an existing output survives an interrupted overwrite untouched
    focus_product(tiny(), demo_product, out, block_columns=8)
    before = focused(out)
    with pytest.raises(RuntimeError):
        focus_product(tiny(6), demo_product, out, block_columns=4, progress=boom, overwrite=True)
    np.testing.assert_array_equal(focused(out), before)
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_an_existing_output_is_refused_unless_overwrite(demo_product, tmp_path):
    out = tmp_path / "out.zarr"
    focus_product(tiny(), demo_product, out)
    first = focused(out)
    with pytest.raises(ProductError, match="already exists"):
        focus_product(tiny(7), demo_product, out)
    np.testing.assert_array_equal(focused(out), first)
    focus_product(tiny(7), demo_product, out, overwrite=True)
    assert not np.array_equal(focused(out), first)
    with pytest.raises(ConfigError, match="its own input"):
        focus_product(tiny(), out, out, overwrite=True)


# --- bad inputs ------------------------------------------------------------------------------
def test_bad_inputs_are_refused_with_clear_errors(demo_product, tmp_path):
    lti, out = tiny(), tmp_path / "out.zarr"
    with pytest.raises(ProductError, match="no such product"):
        focus_product(lti, tmp_path / "missing.zarr", out)
    bare = noise_product(tmp_path / "bare.zarr", 128, 4, attrs={"note": "no geometry"})
    with pytest.raises(ProductError, match="geometry"):
        focus_product(lti, bare, out)
    only_rcmc = noise_product(tmp_path / "rcmc.zarr", 128, 4, levels=("rcmc",))
    with pytest.raises(ProductError, match="no 'rc' array"):
        focus_product(lti, only_rcmc, out)
    with pytest.raises(ConfigError, match="trained on level 'rc'"):
        focus_product(lti, demo_product, out, level="rcmc")
    with pytest.raises(ConfigError, match=r"stream mode needs a causal LTI.*selectivity 'gate'"):
        focus_product(tiny(selectivity="gate"), demo_product, out, mode="stream")
    with pytest.raises(ConfigError, match="no stream mode"):
        focus_product("reference", demo_product, out, mode="stream")
    with pytest.raises(ConfigError, match="mode must be one of"):
        focus_product(lti, demo_product, out, mode="fast")
    with pytest.raises(ConfigError, match="block_rows must be a positive integer"):
        focus_product(lti, demo_product, out, block_rows=0)
    far = noise_product(tmp_path / "far.zarr", 128, 4, attrs={
        "geometry": get_preset("demo").replace(near_range_m=90_000.0).to_attrs()})  # fmt: skip
    with pytest.raises(ConfigError, match="outside the model's"):
        focus_product(lti, far, out)
    assert not out.exists()


# --- memory ----------------------------------------------------------------------------------
def test_peak_memory_is_bounded_by_the_block_not_the_product(tmp_path):
    """A product 8x longer than another (and 64x one block) peaks no higher: the bound
    follows the block (its arrays plus one Zarr chunk being decoded), not the product."""
    focuser = load_focuser(tiny(), SCALER)
    focuser.engine()  # fold the kernel before tracing
    peaks, blocks = {}, {}
    for rows in (2048, 16384):
        src = noise_product(tmp_path / f"in{rows}.zarr", rows, 32)
        tracemalloc.start()
        try:
            s = focus_product(focuser, src, tmp_path / f"out{rows}.zarr", block_columns=16,
                              block_rows=256)  # fmt: skip
            peaks[rows] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        blocks[rows] = s["block_bytes"]
    product_bytes = 16384 * 32 * 8  # one complex64 array of the long product: 4 MiB
    chunk_bytes = 1024 * 16 * 8
    assert blocks[16384] == blocks[2048]
    assert peaks[16384] < 1.2 * peaks[2048]
    assert peaks[16384] < 2 * blocks[16384] + 2 * chunk_bytes
    assert peaks[16384] < product_bytes / 2


# --- the command line ------------------------------------------------------------------------
def test_cli_focuses_a_folder_and_reports_each_product(
    demo_product_dir, model_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = ["focus", "--model", str(model_dir), "--input", str(demo_product_dir), "--out",
            str(out), "--block-columns", "5", "--block-rows", "100"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = sorted(p.name for p in demo_product_dir.glob("*.zarr"))
    assert len(lines) == 2 and all(line.startswith("focused ") for line in lines)
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        single = predict_product(load_focuser(model_dir).net,
                                 open_product(demo_product_dir / name), SCALER)  # fmt: skip
        assert rel_err(focused(out / name), single) < 2e-5
    # again without --overwrite: each product fails, is named, and the exit code is 2
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "2 of 2 product(s) failed" in err[-1]
    assert all(
        name in line and "already exists" in line for name, line in zip(names, err[:2], strict=True)
    )
    assert main([*argv, "--overwrite", "--mode", "stream"]) == 0


def test_cli_one_failing_product_does_not_stop_the_others(demo_product, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(demo_product, data / "a-good.zarr")
    noise_product(data / "b-bare.zarr", 128, 4, attrs={})
    shutil.copytree(demo_product, data / "c-good.zarr")
    out = tmp_path / "out"
    assert main(["focus", "--model", "reference", "--input", str(data), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["a-good.zarr", "c-good.zarr"]
    err = captured.err.strip().splitlines()
    assert err[0].startswith("sarssm focus: b-bare.zarr: error: ") and "geometry" in err[0]
    np.testing.assert_array_equal(
        focused(out / "a-good.zarr"), open_product(demo_product).read("az")
    )


def test_cli_single_product_and_errors(demo_product, model_dir, tmp_path, capsys):
    target = tmp_path / "one.zarr"
    assert main(["focus", "--model", "reference", "--input", str(demo_product), "--out",
                 str(target)]) == 0  # fmt: skip
    assert open_product(target).attrs["focused_by"]["model"] == "reference"
    folder = tmp_path / "into"
    assert main(["focus", "--model", "reference", "--input", str(demo_product), "--out",
                 str(folder)]) == 0  # fmt: skip
    assert (folder / demo_product.name).is_dir()
    capsys.readouterr()
    teacher = tmp_path / "gate"
    save_model(tiny(selectivity="gate"), teacher)
    SCALER.save(teacher / "normalization.json")
    argv = ["focus", "--model", str(teacher), "--input", str(demo_product), "--out",
            str(tmp_path / "s"), "--mode", "stream"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "stream mode needs a causal LTI student" in err[0]
    assert main(["focus", "--model", str(tmp_path / "none"), "--input", str(demo_product),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "no such folder" in capsys.readouterr().err


def test_product_writer_commits_only_on_success(tmp_path):
    path = tmp_path / "p.zarr"
    with pytest.raises(ValueError), ProductWriter(path) as out:
        out.create("az", (8, 4))
        out.write("az", np.ones((8, 2), np.complex64), slice(None), slice(0, 2))
        raise ValueError("stop")
    assert list(tmp_path.iterdir()) == []
    with ProductWriter(path) as out:
        out.create("az", (8, 4))
        out.write("az", np.ones((8, 2), np.complex64), slice(None), slice(0, 2))
        out.attrs["note"] = np.float32(1.5)
    product = open_product(path)
    assert product.attrs == {"note": 1.5}
    np.testing.assert_array_equal(product.read("az")[:, :2], 1)
    np.testing.assert_array_equal(product.read("az")[:, 2:], 0)
    with pytest.raises(ProductError, match="already exists"), ProductWriter(path):
        pass
