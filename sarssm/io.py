"""Atomic file and folder writes: write under a temporary name in the same folder, then rename.

An interrupted run never leaves a half-written file or folder under its final name, and an
existing output is replaced only once the new one is complete. A process killed mid-write
(SIGKILL) may leave its hidden temporary (`.NAME.*.tmp`) beside the output; readers skip it.

Temporary files and folders are created owner-only (`tempfile`); before the rename they, and
every file written into a temporary folder, get the permissions of an ordinary file or folder
under the process's umask (`apply_umask`), so outputs are as readable as anything else the
user writes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc), else by
    setting and restoring it."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: Path, mask: int | None = None) -> None:
    """Give a file 0o666, a folder 0o777, less the umask (what `open` and `mkdir` give them):
    `tempfile` makes both owner-only, and some writers (safetensors) make files owner-only."""
    mask = current_umask() if mask is None else mask
    mode = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, mode & ~mask)


def apply_umask_tree(folder: Path) -> None:
    """`apply_umask` on a folder and everything in it (links are left alone)."""
    mask = current_umask()
    apply_umask(folder, mask)
    for root, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            entry = os.path.join(root, name)
            if not os.path.islink(entry):
                apply_umask(Path(entry), mask)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        apply_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it is renamed to `path`.

    On any exception the temporary folder is removed and `path` is left as it was. With
    `overwrite`, an existing `path` is replaced only after the new folder is complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not overwrite:
        raise FileExistsError(
            errno.EEXIST, "already exists (pass overwrite to replace it)", str(path)
        )
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        apply_umask_tree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        if exchange(tmp, path):  # one step: `path` is the old folder or the new one, always
            shutil.rmtree(tmp, ignore_errors=True)  # now the old one
            return
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)  # elsewhere: two renames, `path` briefly absent between them
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`, which
    replaces a non-empty folder as `rename` cannot); False where the system lacks it."""
    func = getattr(_libc(), "renameat2", None)
    if func is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if func(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # the kernel or the file system does not support it
    raise OSError(code, os.strerror(code), str(a), None, str(b))


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def prepare_output_dir(path: str | Path, what: str) -> Path:
    """Create the output folder `path` (with its parents) and check that files can be written
    in it; a ConfigError names `what` (the flag or key that gave the path) and the path when
    it is a product, a file stands where a folder is needed, or the folder cannot be created
    or written."""
    from sarssm.data.store import is_product
    from sarssm.errors import ConfigError

    path = Path(path)
    if is_product(path):
        raise ConfigError(f"{what} {path} is a product (a Zarr group), not an output folder")
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            if not folder.is_dir():
                kind = "is a file" if folder.is_file() else "is not a folder"
                raise ConfigError(f"{what} {path}: {folder} {kind}, a folder is needed there")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".sarssm-write-test."):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{what} {path}: cannot write there ({reason})") from None
    return path
