"""Fuzzing with Hypothesis: the config loader, the product reader and the command-line parser,
given random and adversarial input, either work or raise their documented error:

- configs (`sarssm.config`, the train and distill configs): `ConfigError`;
- products (`sarssm.data.store.open_product`, `Product.read`, `.geometry`): `ProductError`;
- the command line (`sarssm.cli.parse`): argparse's exit with status 2 (usage error).

No other exception may escape (it would reach the user as a traceback).
"""

from __future__ import annotations

import json
import math
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sarssm.errors import ConfigError, ProductError

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- configs ---------------------------------------------------------------------------------
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=12),
    st.sampled_from(["demo-tiny", "gate", "none", "ddp", "1e-3", "rc", "az", "[1, 2]"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def real_keys() -> dict[str, list[str]]:
    """Section -> its real keys (train and distill configs), so fuzzed configs reach deep."""
    from sarssm.config import to_dict
    from sarssm.distill.config import DistillConfig

    return {k: list(v) if isinstance(v, dict) else [] for k, v in to_dict(DistillConfig()).items()}


KEYS = real_keys()
MODEL_KEYS = ["preset", "model_dim", "state_dim", "num_layers", "selectivity", "direction",
              "dropout", "range_neighbours", "input_level", "data_preset", "memory", "delay",
              "prefilter_taps", "reference", "activation", "geometry", "scan"]  # fmt: skip


@st.composite
def configs(draw) -> dict:
    """A mapping over real sections and keys (and some unknown ones) with random values."""
    out: dict = {}
    for section in draw(st.lists(st.sampled_from([*KEYS, "junk"]), max_size=5, unique=True)):
        keys = MODEL_KEYS if section == "model" else KEYS.get(section, [])
        if not keys or draw(st.integers(0, 5)) == 0:
            out[section] = draw(VALUES)
            continue
        chosen = draw(st.lists(st.sampled_from([*keys, "nope"]), max_size=4, unique=True))
        out[section] = {key: draw(VALUES) for key in chosen}
    return out


@FUZZ
@given(data=configs())
def test_train_and_distill_configs_load_or_raise_config_error(data):
    from sarssm.config import from_dict
    from sarssm.distill.config import DistillConfig
    from sarssm.train.config import TrainConfig

    for cls in (TrainConfig, DistillConfig):
        train_data = {k: v for k, v in data.items() if cls is DistillConfig or k in KEYS}
        try:
            from_dict(cls, train_data)
        except ConfigError:
            pass


def _like(value) -> st.SearchStrategy:
    """Adversarial values of the same type as a default `value`."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.sampled_from([0, 1, -1, 2, 7, 10**9, -(10**9), 2**63])
    if isinstance(value, float):
        return st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1e308, math.inf, -math.inf,
                                math.nan, 2.0])  # fmt: skip
    if isinstance(value, str):
        return st.sampled_from([value, "", "x", "demo", "s1-stripmap", "none", "ddp", "cpu"])
    if isinstance(value, list):
        return st.lists(st.integers(-3, 300), max_size=3)
    if isinstance(value, dict):
        return st.fixed_dictionaries({k: _like(v) for k, v in value.items()})
    return st.none()


@st.composite
def typed_configs(draw) -> dict:
    """The default distillation config with a few leaves replaced by adversarial values of
    their own type: past the type checks, into each dataclass's own validation."""
    from sarssm.config import to_dict
    from sarssm.distill.config import DistillConfig

    data = to_dict(DistillConfig())
    data["model"] = {"preset": draw(st.sampled_from(["demo-tiny", "demo-ultra", "tiny"]))}
    leaves = [(s, k) for s, v in data.items() if isinstance(v, dict) for k in v]
    leaves += [("model", k) for k in MODEL_KEYS[1:]]
    for section, key in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=4)):
        default = data[section].get(key, 1)
        data[section][key] = draw(_like(default))
    return data


@FUZZ
@given(data=typed_configs())
def test_typed_adversarial_configs_load_or_raise_config_error(data):
    from sarssm.config import from_dict
    from sarssm.distill.config import DistillConfig

    try:
        from_dict(DistillConfig, data)
    except ConfigError:
        pass


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_yaml_files_load_or_raise_config_error(text):
    from sarssm.config import load_yaml
    from sarssm.train.run import resolve_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            load_yaml(path)
            resolve_config(path)
        except ConfigError:
            pass


@FUZZ
@given(overrides=st.lists(st.text(string.printable, max_size=30), max_size=4))
def test_overrides_apply_or_raise_config_error(overrides):
    from sarssm.train.run import resolve_config

    try:
        resolve_config(None, overrides)
    except ConfigError:
        pass


@FUZZ
@given(key=st.sampled_from(["trainer.max_epochs", "optim.lr", "data.patch_size",
                            "model.state_dim", "data.split.val_fraction", "loss.complex_mse",
                            "distillation.temperature", "model.preset"]),
       value=st.sampled_from(["0", "-1", "nan", ".inf", "-.inf", "1e308", "[]", "{}", "null",
                              "true", "'x'", "[1, 2, 3]", "1e-400", "2**10"]))  # fmt: skip
def test_adversarial_values_of_real_keys_raise_config_error(key, value):
    from sarssm.distill.run import resolve_config

    try:
        resolve_config(None, [f"{key}={value}"])
    except ConfigError:
        pass


# --- products --------------------------------------------------------------------------------
DTYPES = ["complex64", "complex128", "float32", "float64", "int16", "bool"]


@st.composite
def products(draw) -> dict:
    arrays = {}
    for name in draw(st.lists(st.sampled_from(["raw", "rc", "rcmc", "az", "junk"]), max_size=3,
                              unique=True)):  # fmt: skip
        ndim = draw(st.integers(1, 3))
        shape = tuple(draw(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim)))
        arrays[name] = (draw(st.sampled_from(DTYPES)), shape,
                        draw(st.sampled_from([None, "nan", "inf"])))  # fmt: skip
    geometry = draw(st.one_of(
        st.none(),
        VALUES,
        st.fixed_dictionaries({}, optional={"prf_hz": VALUES, "n_azimuth": VALUES,
                                            "near_range_m": VALUES, "wavelength_m": VALUES}),
    ))  # fmt: skip
    damage = draw(st.sampled_from([None, "group-json", "array-json", "chunk", "truncate"]))
    junk = draw(st.binary(max_size=64))
    return {"arrays": arrays, "geometry": geometry, "damage": damage, "junk": junk}


def write_fuzzed(path: Path, spec: dict) -> None:
    import zarr

    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    for name, (dtype, shape, bad) in spec["arrays"].items():
        data = np.ones(shape, dtype=dtype)
        if bad and np.issubdtype(data.dtype, np.inexact):
            data.flat[0] = np.nan if bad == "nan" else np.inf
        group.create_array(name, shape=shape, dtype=dtype)[...] = data
    if spec["geometry"] is not None:
        try:
            group.attrs["geometry"] = spec["geometry"]
        except (TypeError, ValueError):  # not JSON (NaN): zarr refuses to store it
            pass
    damage, junk = spec["damage"], spec["junk"]
    arrays = [p for p in path.iterdir() if p.is_dir()]
    chunks = [p for a in arrays for p in a.rglob("*") if p.is_file() and p.name != "zarr.json"]
    if damage == "group-json":
        (path / "zarr.json").write_bytes(junk)
    elif damage == "array-json" and arrays:
        (arrays[0] / "zarr.json").write_bytes(junk)
    elif damage == "chunk" and chunks:
        chunks[0].write_bytes(junk)
    elif damage == "truncate" and chunks:
        chunks[0].write_bytes(chunks[0].read_bytes()[: len(junk) % 7])


@FUZZ
@given(spec=products())
def test_products_open_and_read_or_raise_product_error(spec):
    from sarssm.data.store import open_product

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.zarr"
        write_fuzzed(path, spec)
        try:
            product = open_product(path)
        except ProductError:
            return
        for level in product.levels:
            try:
                block = product.read(level)
            except ProductError:
                continue
            assert block.dtype == np.complex64 and np.isfinite(block.view(np.float32)).all()
        try:
            geometry = product.geometry
        except ProductError:
            return
        assert math.isfinite(geometry.prf_hz)


@FUZZ
@given(text=st.text(max_size=80) | st.sampled_from(['{"zarr_format": 3}', '{"zarr_format": 2}',
        '{"zarr_format": 3, "node_type": "group", "attributes": []}', "[]", "null", "{}",
        '{"zarr_format": 3, "node_type": "array"}']))  # fmt: skip
def test_adversarial_group_metadata_raises_product_error(text):
    from sarssm.data.store import open_product

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.zarr"
        path.mkdir()
        (path / "zarr.json").write_text(text)
        with pytest.raises(ProductError):
            open_product(path).read("rc")


# --- the command line ------------------------------------------------------------------------
def _tokens() -> st.SearchStrategy:
    from sarssm.cli import build_parser, subcommand_parsers

    commands = subcommand_parsers(build_parser())
    flags = sorted({f for p in commands.values() for f in p._option_string_actions
                    if f not in ("-h", "--help", "--version")})  # fmt: skip
    flags += [f.replace("-", "_") for f in flags if f.startswith("--")]
    return st.one_of(
        st.sampled_from(sorted(commands)),
        st.sampled_from(flags),
        st.sampled_from(
            [
                "--",
                "-",
                "---",
                "--=",
                "=",
                "a=b",
                "a.b=",
                "=1",
                "-1",
                "1e9",
                "nan",
                "none",
                "--x=y",
                "--config=",
                "model.preset=demo-tiny",
            ]
        ),
        st.text(string.printable, max_size=10),
    )


TOKENS = _tokens()


@FUZZ
@given(argv=st.lists(TOKENS, max_size=8))
def test_the_cli_parser_parses_or_exits_with_usage_error(argv):
    import contextlib
    import io

    from sarssm.cli import build_parser, parse

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            args = parse(build_parser(), argv)
        except SystemExit as exc:
            assert exc.code == 2
            return
    assert getattr(args, "command", None) is None or isinstance(args.command, str)


def test_the_fuzzed_product_writer_covers_the_damage_kinds(tmp_path):
    """The product strategy is not vacuous: each damage kind does break a good product."""
    from sarssm.data.store import open_product

    for damage in ("group-json", "array-json", "chunk"):
        path = tmp_path / f"{damage}.zarr"
        spec = {"arrays": {"rc": ("complex64", (4, 4), None)}, "geometry": None,
                "damage": damage, "junk": b"\x00\xff junk"}  # fmt: skip
        write_fuzzed(path, spec)
        with pytest.raises(ProductError):
            open_product(path).read("rc")
    json.dumps(real_keys())  # the key table is plain data
