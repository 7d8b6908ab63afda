"""Real Maya4-layout products opened by sarssm: the geometry fallback, what an opened product
keeps in memory, `--geometry` overrides (flag and `data.geometry`), `inspect`, and the
DataModule's split files and reference geometry taken from the training products."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from sarssm.cli import main
from sarssm.config import from_dict
from sarssm.data import maya4
from sarssm.data.datamodule import DataConfig, SarDataModule
from sarssm.data.maya4 import maya4_geometry
from sarssm.data.store import open_product, write_product
from sarssm.errors import ConfigError, ProductError
from sarssm.models.config import get_config
from sarssm.physics.geometry import get_preset
from sarssm.sim.maya4_layout import write_maya4_product, write_sparse_product


def names(folder: Path) -> list[str]:
    """Product names in the order they were written (by data-take, the name's last part)."""
    return sorted((p.name for p in folder.glob("*.zarr")), key=lambda n: n[-11:-5])


def without(folder: Path, tmp_path: Path, attr: str) -> Path:
    """A copy of the first product of `folder` whose attribute `attr` is removed."""
    import shutil

    import zarr

    src = folder / names(folder)[0]
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    group = zarr.open_group(str(dst), mode="r+")
    attrs = dict(group.attrs)
    attrs.pop(attr)
    group.attrs.clear()
    group.update_attributes(attrs)
    return dst


# --- the store ------------------------------------------------------------------------------
def test_a_maya4_product_falls_back_to_its_packet_geometry_decoded_once(maya4_dir, monkeypatch):
    path = maya4_dir / names(maya4_dir)[0]
    calls = []
    real = maya4.maya4_geometry
    monkeypatch.setattr(maya4, "maya4_geometry", lambda *a, **k: calls.append(1) or real(*a, **k))
    product = open_product(path)
    assert product.is_maya4 and "geometry" not in product.attrs
    g = product.geometry
    assert product.geometry is g and product.geometry is g and len(calls) == 1
    full = product.full_attrs()
    assert g == real(full, path, shape=product.shape)
    assert (g.n_azimuth, g.n_range) == product.shape == (256, 16)
    assert g.velocity_mps == pytest.approx(7090.0, rel=1e-6)
    assert product.level0 is not None and product.level0.polarization == "vv"
    # one parse serves both decodes: each as if decoded alone, an override only in the geometry
    assert product.level0 == maya4.level0_parameters(full, path)
    moved = {"near_range_m": g.near_range_m + 100.0}
    product = open_product(path, moved)
    assert product.level0 == maya4.level0_parameters(full, path)
    assert product.geometry == real(full, path, moved, shape=product.shape)


def test_an_opened_product_keeps_no_packet_records(tmp_path):
    """The DataModule opens every product: each must hold kilobytes, not its records (about
    2 kB of JSON per azimuth line: 8 MB here)."""
    path = write_sparse_product(tmp_path, 4000, 64, blocks=0)
    json_bytes = sum(f.stat().st_size for f in path.glob("*.json")) + sum(
        f.stat().st_size for f in path.glob(".z*")
    )
    assert json_bytes > 6e6
    open_product(path)  # imports and caches warm
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        product = open_product(path)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 500_000, f"an opened product holds {held / 1e6:.1f} MB"
    assert set(product.dropped_attrs) == {"metadata", "ephemeris"}
    assert product.dropped_attrs["metadata"].startswith("4000 records")
    assert product.geometry.n_azimuth == 4000  # decoded before the records were dropped
    assert len(product.full_attrs()["metadata"]["data"]) == 4000


def test_overrides_replace_and_supply_geometry_fields(maya4_dir, tmp_path):
    no_orbit = without(maya4_dir, tmp_path, "ephemeris")
    product = open_product(no_orbit)  # opens; the error comes with the geometry
    with pytest.raises(ProductError, match=r"ephemeris.*give --geometry velocity_mps=VALUE"):
        _ = product.geometry
    g = open_product(no_orbit, ["velocity_mps=7050"]).geometry
    assert g.velocity_mps == 7050.0
    assert open_product(no_orbit, {"velocity_mps": 7050.0, "window_alpha": 1.0}).geometry == (
        g.replace(window_alpha=1.0)
    )
    with pytest.raises(ConfigError, match=r"--geometry 'prf_hz=fast'.*finite number"):
        open_product(no_orbit, ["prf_hz=fast"])
    # a sarssm product's own `geometry` attribute takes overrides too
    demo = get_preset("demo")
    arrays = {"rc": np.ones((256, 4), np.complex64), "az": np.ones((256, 4), np.complex64)}
    own = write_product(tmp_path / "own.zarr", arrays, {"geometry": demo.to_attrs()})
    assert open_product(own).geometry == demo
    assert open_product(own, ["near_range_m=70000"]).geometry.near_range_m == 70000.0
    with pytest.raises(ProductError, match=r"own.zarr: .*--geometry overrides"):
        _ = open_product(own, ["n_azimuth=8"]).geometry  # shorter than the aperture


def test_reads_of_many_chunks_go_one_row_of_chunks_at_a_time(tmp_path, monkeypatch):
    path = write_sparse_product(tmp_path, 1000, 300, geometry=get_preset("demo"), blocks=2,
                                block_shape=(256, 16), chunks=(128, 128))  # fmt: skip
    product = open_product(path)
    whole = product.read("rc")
    from sarssm.data import store

    assert store._row_slabs(product.array("rc"), slice(None), slice(None)) is None
    monkeypatch.setattr(store, "READ_CHUNK_BYTES", 128 * 128 * 8 * 2)
    slabs = store._row_slabs(product.array("rc"), slice(10, 1000), slice(5, 300))
    assert slabs[0] == (10, 128) and slabs[-1] == (896, 1000) and len(slabs) == 8
    np.testing.assert_array_equal(product.read("rc"), whole)
    np.testing.assert_array_equal(product.read("rc", slice(10, 1000), slice(5, 300)),
                                  whole[10:1000, 5:300])  # fmt: skip
    assert np.abs(whole).max() > 0


# --- --geometry on every command ------------------------------------------------------------
@pytest.mark.parametrize("command", ["inspect", "train", "distill", "evaluate", "focus"])
def test_a_bad_geometry_flag_exits_2_before_any_work(command, maya4_dir, tmp_path, capsys):
    data = str(maya4_dir)
    argv = {
        "inspect": ["inspect", data],
        "train": ["train", "--config", "configs/demo/teacher.yaml", "--data", data,
                  "--save-dir", str(tmp_path / "run")],
        "distill": ["distill", "--student_config", "configs/demo/student.yaml", "--data", data,
                    "--save_dir", str(tmp_path / "run")],
        "evaluate": ["evaluate", "--data", data, "--out", str(tmp_path / "ev")],
        "focus": ["focus", "--model", "reference", "--input", data, "--out", str(tmp_path / "f")],
    }[command]  # fmt: skip
    assert main([*argv, "--geometry", "velocity_mps=7100", "--geometry", "prf=1717"]) == 2
    err = capsys.readouterr().err
    assert f"sarssm {command}: error: --geometry 'prf=1717': unknown key 'prf'" in err
    assert not any(tmp_path.iterdir())


def test_data_geometry_is_validated_and_the_flag_merges_into_it(tmp_path):
    from sarssm.cli import build_parser, parse
    from sarssm.cli.train import data_flags
    from sarssm.train.run import resolve_config

    with pytest.raises(ConfigError, match=r"data.geometry 'wavelength_m=-1'.*positive"):
        DataConfig(geometry={"wavelength_m": -1})
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  geometry: {near_range_m: 66000, window_alpha: 0.5}\n")
    args = parse(build_parser(), ["train", "--config", str(config), "--geometry",
                                  "window_alpha=1", "--strict"])  # fmt: skip
    cfg = resolve_config(args.config, [], **data_flags(args))
    assert cfg.data.geometry == {"near_range_m": 66000, "window_alpha": 1.0}
    assert cfg.data.split.strict is True
    cfg = resolve_config(None, [], **data_flags(args))  # data.geometry absent: made
    assert cfg.data.geometry == {"window_alpha": 1.0}


# --- inspect --------------------------------------------------------------------------------
def test_inspect_shows_the_decoded_geometry_and_the_level0_fields(maya4_dir, capsys):
    path = maya4_dir / names(maya4_dir)[0]
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Maya4 s1a swath s1 vv  2023-01-03 12:00:00" in text
    assert "Level-0: 256 records (256 echo)  PRI " in text and "rank 0" in text
    assert "varying along the product: none" in text
    assert "PRF 1716.0299 Hz" in text and "velocity 7090.00 m/s" in text
    assert "first column 0: R0 66.3" in text and "last column 15: R0 66.3" in text
    assert "TBP" in text and "not kept in memory: metadata (256 records" in text
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    geo, level0 = report["geometry"], report["level0"]
    assert geo["prf_hz"] == pytest.approx(37.53472224e6 / 21873, abs=1e-9)  # PRI code
    assert geo["first_column"]["ka_hz_per_s"] > geo["last_column"]["ka_hz_per_s"] > 0
    assert geo["last_column"]["tbp"] > geo["first_column"]["tbp"] > 0
    assert geo["far_range_m"] == pytest.approx(geo["near_range_m"] + 15 * geo["range_spacing_m"])
    assert level0["varying"] == {} and level0["swath"] == 1 and level0["rank"] == 0
    assert level0["name"]["polarization"] == "vv" and "metadata" not in report["attrs"]


def test_inspect_reports_what_it_can_of_a_product_missing_a_field(maya4_dir, tmp_path, capsys):
    no_orbit = without(maya4_dir, tmp_path, "ephemeris")
    assert main(["inspect", str(no_orbit)]) == 2
    out, err = capsys.readouterr()
    assert "Level-0: 256 records" in out and "geometry: " in out
    assert "give --geometry velocity_mps=VALUE" in err
    assert main(["inspect", str(no_orbit), "--geometry", "velocity_mps=7100"]) == 0
    assert "velocity 7100.00 m/s" in capsys.readouterr().out


def test_inspect_lists_a_field_that_varies_along_the_product(tmp_path, capsys):
    import zarr

    path = write_maya4_product(tmp_path, get_preset("demo"), "points", 0)
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    records = attrs["metadata"]["data"]
    for r in records[128:]:
        r["swst"] = r["swst"] + 1e-6  # an SWST change half-way
    group.update_attributes(attrs)
    assert main(["inspect", str(path), "--json"]) == 0
    varying = json.loads(capsys.readouterr().out)["level0"]["varying"]
    assert list(varying) == ["swst"] and varying["swst"][1] - varying["swst"][0] == (
        pytest.approx(1e-6)
    )


# --- the DataModule -------------------------------------------------------------------------
def test_datamodule_opens_only_listed_and_filtered_products(maya4_dir, tmp_path, monkeypatch):
    from sarssm.data import store

    listed = names(maya4_dir)
    (tmp_path / "train.txt").write_text("\n".join([listed[0], listed[1][:-5], listed[5]]))
    (tmp_path / "val.txt").write_text(listed[3] + "\n")
    (tmp_path / "test.txt").write_text(listed[4] + "\n" + "s1a-s1-raw-s-vv-gone.zarr\n")
    opened = []
    real = store.open_product
    monkeypatch.setattr(store, "open_product", lambda p, *a: opened.append(p.name) or real(p, *a))
    data = dict(
        path=str(maya4_dir), patch_size=[128, 1], stride=[128, 1], loss_margin=16,
        norm_patches=8, geometry={"window_alpha": 0.75},
        split={"train_file": str(tmp_path / "train.txt"), "val_file": str(tmp_path / "val.txt"),
               "test_file": str(tmp_path / "test.txt"),
               "filters": {"years": [2023, 2024], "polarizations": ["vv"]}},
    )  # fmt: skip
    config = from_dict(DataConfig, data)
    echoed: list[str] = []
    dm = SarDataModule(config, get_config("demo-tiny"), echo=echoed.append)
    dm.setup()
    assert [e.path.name for e in dm.splits["train"]] == listed[:2]
    assert [e.path.name for e in dm.splits["val"]] == [listed[3]]
    assert [e.path.name for e in dm.splits["test"]] == [listed[4]]
    assert set(opened) == {listed[i] for i in (0, 1, 3, 4)}  # never the unlisted or filtered
    assert any("test_file" in t and "1 of 2 listed products are not among the 6" in t
               for t in echoed)  # fmt: skip
    assert any("1 listed products left out by the filters" in t for t in echoed)
    strict = from_dict(DataConfig, {**data, "split": {**data["split"], "strict": True}})
    with pytest.raises(ConfigError, match=r"test_file .*s1a-s1-raw-s-vv-gone.*strict"):
        SarDataModule(strict, get_config("demo-tiny"), echo=echoed.append).setup()


def test_reference_geometry_from_the_training_products(tmp_path):
    """Products of another radar than the preset's (V 3 % off) are refused by a preset
    reference, and accepted by one taken from the training products."""
    demo = get_preset("demo")
    for i, v in enumerate((7300.0, 7310.0, 7320.0, 7305.0)):
        write_maya4_product(tmp_path, demo.replace(velocity_mps=v), "clutter", i)
    config = from_dict(DataConfig, dict(
        path=str(tmp_path), patch_size=[128, 1], stride=[128, 1], loss_margin=16, norm_patches=8,
        split={"val_fraction": 0.25, "test_fraction": 0.25},
    ))  # fmt: skip
    with pytest.raises(ConfigError, match=r"geometry.velocity_mps = 73.* another radar"):
        SarDataModule(config, get_config("demo-tiny"), echo=lambda _: None).setup()
    echoed: list[str] = []
    dm = SarDataModule(config, get_config("demo-tiny"), echo=echoed.append,
                       reference_from_data=True)  # fmt: skip
    dm.setup()
    ref = dm.model.reference
    train_v = [open_product(e.path).geometry.velocity_mps for e in dm.splits["train"]]
    assert ref.velocity_mps == pytest.approx(float(np.median(train_v)))
    assert ref.velocity_mps != demo.velocity_mps and ref.prf_hz == pytest.approx(1716.97, 1e-5)
    assert dm.model.prefilter_taps is not None and "model.reference from the 2" in echoed[0]
    batch = next(iter(dm.val_dataloader()))
    assert batch["slant_range"].shape[0] == batch["x"].shape[0]
    assert maya4_geometry  # the decoder the products went through


def test_evaluate_and_focus_take_the_overrides_a_product_needs(maya4_dir, tmp_path, capsys):
    no_orbit = without(maya4_dir, tmp_path, "ephemeris")
    for command in (["evaluate", "--data", str(no_orbit), "--out", str(tmp_path / "ev")],
                    ["focus", "--model", "reference", "--input", str(no_orbit),
                     "--out", str(tmp_path / "f")]):  # fmt: skip
        assert main(command) == 2
        assert "give --geometry velocity_mps=VALUE" in capsys.readouterr().err
        assert main([*command, "--geometry", "velocity_mps=7090"]) == 0
        capsys.readouterr()
    focused = open_product(tmp_path / "f" / no_orbit.name)
    assert focused.geometry.velocity_mps == 7090.0 and focused.attrs["geometry"]
