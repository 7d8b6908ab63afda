"""Deployment tests run on one intra-op thread: the shared CPU makes two threads much slower."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
