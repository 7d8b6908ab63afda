"""Determinism: the same seed and data on the same machine give identical products from
`simulate` and identical metrics and weights from a short `train` (`distill`:
tests/distill/test_reliability.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from sarssm.cli import main

from .conftest import train_argv


def products(folder: Path) -> dict[str, tuple[dict, dict[str, bytes]]]:
    """name -> (attributes, level -> the array's bytes)."""
    from sarssm.data.store import list_products, open_product

    out = {}
    for path in list_products(folder):
        product = open_product(path)
        out[path.name] = (product.attrs, {lv: product.read(lv).tobytes() for lv in product.levels})
    return out


def test_simulate_is_deterministic(tmp_path, capsys):
    argv = ["simulate", "--scene", "mixed", "--products", "2", "--seed", "7", "--snr-db", "20",
            "--quiet"]  # fmt: skip
    for name in ("a", "b"):
        assert main([*argv, "--out", str(tmp_path / name)]) == 0
    a, b = products(tmp_path / "a"), products(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for name in a:
        assert a[name][0] == b[name][0]  # attributes: geometry, targets, seeds, versions
        assert a[name][1] == b[name][1]  # every level, bit for bit
    # the control: another seed gives other data
    other = [v if v != "7" else "8" for v in argv]
    assert main([*other, "--out", str(tmp_path / "c")]) == 0
    c = products(tmp_path / "c")
    assert next(iter(c.values()))[1]["rc"] != next(iter(a.values()))[1]["rc"]
    capsys.readouterr()


def test_a_short_train_is_deterministic(rel_data, tmp_path, capsys):
    runs = [tmp_path / "a", tmp_path / "b"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for run in runs:
            assert main(train_argv(rel_data, run, "trainer.max_epochs=1")) == 0
    finally:
        torch.set_num_threads(threads)
    ma, mb = (json.loads((run / "metrics.json").read_text()) for run in runs)
    assert ma == mb  # every metric, exactly
    wa, wb = (load_file(run / "last" / "model.safetensors") for run in runs)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert np.isfinite(ma["test"]["nmse_db"])
    capsys.readouterr()
