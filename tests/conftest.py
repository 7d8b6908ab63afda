"""Shared fixtures: a tiny folder of simulated demo products, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_product_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two `demo` products of the `mixed` scene (256 x 16, point targets + clutter, SNR 30 dB).

    Read-only: tests that write must use their own tmp_path.
    """
    from sarssm.sim.simulate import simulate

    out = tmp_path_factory.mktemp("demo_products")
    simulate(out, "demo", "mixed", n_products=2, seed=0, snr_db=30.0, progress=False)
    return out


@pytest.fixture(scope="session")
def demo_product(demo_product_dir: Path) -> Path:
    """Path of the first product in `demo_product_dir`."""
    return sorted(demo_product_dir.glob("*.zarr"))[0]
