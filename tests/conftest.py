"""Shared fixtures: a tiny folder of simulated demo products, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


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


# Real-layout Maya4 products (`demo` geometry, 256 x 16): (year, polarisation, V m/s, PRF Hz).
# V and PRF differ between acquisitions as a real archive's do (within 0.15 %, mapped by the
# models' chirp-equivalent range); both Zarr formats.
MAYA4_PRODUCTS = [
    (2023, "vv", 7090.0, 1716.0),
    (2023, "vv", 7100.0, 1717.0),
    (2023, "vv", 7110.0, 1718.0),
    (2024, "vv", 7095.0, 1719.0),
    (2024, "vv", 7105.0, 1717.0),
    (2024, "vh", 7100.0, 1717.0),
]


@pytest.fixture(scope="session")
def maya4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six real-layout Maya4 products (`MAYA4_PRODUCTS`, in that order by name): no
    `geometry` attribute, no point-target list; read-only."""
    from datetime import datetime

    from sarssm.physics.geometry import get_preset
    from sarssm.sim.maya4_layout import write_maya4_product

    out = tmp_path_factory.mktemp("maya4")
    demo = get_preset("demo")
    for i, (year, pol, v, prf) in enumerate(MAYA4_PRODUCTS):
        write_maya4_product(
            out, demo.replace(velocity_mps=v, prf_hz=prf), "clutter" if i % 2 else "mixed", i,
            polarization=pol, start=datetime(year, 1, 3 + i, 12, 0, 0), snr_db=30.0,
            zarr_format=2 if i % 2 else 3,
        )  # fmt: skip
    return out


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (restored after): the shared CPU makes two threads
    much slower for small models, and child processes of the kill tests run on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
