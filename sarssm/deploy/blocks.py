"""Column blocks and row segments of `sarssm focus`, chosen from the input's chunks.

Real Maya4 products are chunked 4096 x 4096 (sarpyx; 128 MiB of complex64 per chunk), far wider
than the 64-column blocks that suit sarssm's own 1024 x 16 chunks: a 64-column block would
decode each chunk 64 times. `block_plan` makes blocks a whole number of chunks wide where
chunks are narrow, and where they are wide the widest divisor of the chunk width whose working
memory (`block_bytes_per_column`) stays within `BLOCK_BYTES`; segments are whole chunk rows;
the output's `az` is chunked one block wide where the input's chunks are wider and large, so
each output chunk is written once (docs/focus.md, "Blocks and chunks").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sarssm.errors import ConfigError

BLOCK_COLUMNS = 64  # default W where the input's chunks are narrower
BLOCK_ROWS = 4096  # default S
BLOCK_BYTES = 512 << 20  # working memory a default block may take (where chunks are wide)
REWRITE_CHUNK_BYTES = 16 << 20  # larger output chunks are not rewritten block by block


def parse_columns(text: str) -> tuple[int, int | None]:
    """`--columns A:B` -> (A, B) (A default 0, B default None: the last column)."""
    a, sep, b = str(text).partition(":")
    try:
        if not sep:
            raise ValueError
        return (int(a) if a.strip() else 0, int(b) if b.strip() else None)
    except ValueError:
        raise ConfigError(f"--columns {text!r}: expected A:B (columns A..B-1)") from None


def column_span(columns: Any, product: Any) -> tuple[int, int]:
    """(a, b): the columns to focus, all by default; `columns` (a, b) or "A:B", checked
    against the product's width."""
    M = product.shape[1]
    if columns is None:
        return 0, M
    a, b = parse_columns(columns) if isinstance(columns, str) else columns
    a, b = int(a), M if b is None else int(b)
    if not 0 <= a < b <= M:
        raise ConfigError(
            f"--columns {a}:{b}: not a column range of {product.path} (0 <= A < B <= {M})"
        )
    return a, b


def block_plan(
    focuser: Any,
    product: Any,
    level: str,
    mode: str,
    block_columns: int | None = None,
    block_rows: int | None = None,
) -> tuple[int, int, tuple[int, int]]:
    """(W, S, chunks of the output's az) for a product, following its `level`'s chunks.

    W (unless given): where the input's chunks are at most a default block wide (64 columns,
    the reference's 256), the default rounded up to whole chunks; where they are wider, the
    widest divisor of the chunk width (a multiple of 256 for the reference on rc) whose working
    memory (`block_bytes_per_column`) stays within `BLOCK_BYTES`, at least the default. S
    (unless given): `BLOCK_ROWS` in whole chunk rows (at least one chunk row). The output's az
    keeps the input's az chunks (else the level's), unless they are wider than W and larger
    than `REWRITE_CHUNK_BYTES` (each block would decode and encode them again): then
    (chunk rows, W), so each block writes whole chunks.
    """
    from sarssm.focus.rda import BLOCK_COLUMNS as GRID

    L, M = product.shape
    cr, cw = (int(c) for c in product.array(level).chunks)
    grid = GRID if focuser.is_reference and level == "rc" else 1
    if block_rows is None:
        block_rows = max(cr, BLOCK_ROWS // cr * cr)
    S = min(block_rows, L)
    base = max(BLOCK_COLUMNS, grid)
    if block_columns is not None:
        W = block_columns
    elif cw <= base:
        W = math.ceil(base / cw) * cw
    else:
        per_column = block_bytes_per_column(focuser, product, level, mode, S)
        fits = [
            d
            for d in range(base, cw + 1)
            if cw % d == 0 and d % grid == 0 and d * per_column <= BLOCK_BYTES
        ]
        W = max(fits, default=base)
    W = min(math.ceil(W / grid) * grid, max(M, 1))
    cr, cw = (int(c) for c in product.array("az" if "az" in product.levels else level).chunks)
    small = cr * cw * 8 <= REWRITE_CHUNK_BYTES  # cheap to rewrite once per block
    return W, S, (cr, cw) if cw <= W or small else (cr, W)


def block_bytes_per_column(focuser: Any, product: Any, level: str, mode: str, S: int) -> int:
    """Working memory of one block column, estimated (for `block_plan`): the reference holds
    whole columns and their spectra (about 6 nfft + 4 L complex64 values with the RCMC
    context), a folded LTI student segments of S + its kernel length rows in a dozen arrays,
    a streaming one its rows and state; other models whole columns (bidirectional) or the
    default block (selective: their state, not their columns, bounds them)."""
    from sarssm.focus.rda import fft_length

    L, M = product.shape
    if focuser.is_reference:
        nfft = fft_length(product.geometry, L, np.arange(M))
        return 8 * (6 * nfft + 4 * L)
    config = focuser.net.config.resolved()
    C = config.input_channels
    if mode == "stream":
        return 8 * (3 * S + config.pole_budget)
    if config.direction == "bidirectional":
        return 8 * L * (C + 2) * 4
    if config.selectivity != "none":
        return BLOCK_BYTES // BLOCK_COLUMNS
    kernel = (config.memory or 0) + 2 * (config.prefilter_taps or 0)
    return 8 * (S + kernel) * C * 12
