import itertools
from pathlib import Path

import numpy as np
import pytest

from sarssm.data.patches import GridPatchSampler, PatchGeometry, ProductEntry, RandomPatchSampler
from sarssm.errors import ConfigError


def entries(shapes):
    return [ProductEntry(Path(f"p{i}"), r, c) for i, (r, c) in enumerate(shapes)]


PATCH = PatchGeometry(length=16, columns=2, stride=(8, 1), buffer=(2, 1))


def valid_starts(shapes):
    out = set()
    for p, (rows, cols) in enumerate(shapes):
        for r in range(2, rows - 2 - 16 + 1):
            for c in range(1, cols - 1 - 2 + 1):
                out.add((p, r, c))
    return out


def test_random_sampler_stays_inside_valid_starts_and_covers_them():
    shapes = [(40, 5), (30, 4), (10, 9)]  # the last product is too short: never drawn
    sampler = RandomPatchSampler(entries(shapes), PATCH, num_samples=500, seed=1)
    valid = valid_starts(shapes)
    seen = set()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        draw = set(sampler)
        assert draw <= valid
        seen |= draw
    assert seen == valid  # every valid start is eventually drawn


def test_random_sampler_is_uniform_over_starts_not_products():
    shapes = [(200, 4), (40, 4)]
    sampler = RandomPatchSampler(entries(shapes), PATCH, num_samples=20000, seed=0)
    locs = sampler.locations(0)
    n0 = len(range(2, 200 - 18 + 1))
    n1 = len(range(2, 40 - 18 + 1))
    assert np.mean(locs[:, 0] == 0) == pytest.approx(n0 / (n0 + n1), abs=0.02)


def test_draws_differ_between_epochs_and_repeat_for_the_same_seed_and_epoch():
    ents = entries([(64, 4)])
    a = RandomPatchSampler(ents, PATCH, 64, seed=5)
    b = RandomPatchSampler(ents, PATCH, 64, seed=5)
    assert not np.array_equal(a.locations(0), a.locations(1))
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    assert not np.array_equal(a.locations(0), RandomPatchSampler(ents, PATCH, 64, 6).locations(0))
    # not the same first N patches of each product
    assert len({tuple(x) for x in a.locations(0)[:, 1:]}) > 32


def test_grid_sampler_tiles_to_the_edges():
    sampler = GridPatchSampler(entries([(40, 5)]), PATCH)
    rows = sorted({r for _, r, _ in sampler})
    assert rows[0] == 2 and rows[-1] == 40 - 2 - 16  # flush with the buffered edge
    assert all(b - a <= 8 for a, b in itertools.pairwise(rows))
    assert len(sampler) == len(list(sampler))


def test_no_product_large_enough_is_a_clear_error():
    with pytest.raises(ConfigError, match="patch_size"):
        RandomPatchSampler(entries([(10, 2)]), PATCH, 10, 0)
