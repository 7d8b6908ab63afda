import pytest

from sarssm.io import atomic_dir, atomic_write_text


def test_atomic_write_replaces_only_on_success(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "first")
    import os

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "second")
    monkeypatch.undo()
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary left behind


def test_atomic_dir_failure_keeps_existing_and_leaves_nothing(tmp_path):
    final = tmp_path / "product.zarr"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(final, overwrite=True) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("interrupted")
    assert (final / "a").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["product.zarr"]


def test_atomic_dir_refuses_to_clobber_and_overwrites_when_asked(tmp_path):
    final = tmp_path / "p"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(FileExistsError), atomic_dir(final) as tmp:
        pass
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_atomic_writes_follow_the_umask(tmp_path, mask):
    """Temporary files are owner-only; what is renamed into place follows the umask, files
    written into an atomic folder by any writer (safetensors makes them 0600) included."""
    import os

    old = os.umask(mask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as tmp:
            fd = os.open(tmp / "w.bin", os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
            (tmp / "sub").mkdir(mode=0o700)
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "d" / "w.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "d" / "sub").stat().st_mode & 0o777 == 0o777 & ~mask


def test_prepare_output_dir_names_the_flag(tmp_path):
    from sarssm.errors import ConfigError
    from sarssm.io import prepare_output_dir

    assert prepare_output_dir(tmp_path / "a" / "b", "--out").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"--out .*f/x: .*f is a file"):
        prepare_output_dir(tmp_path / "f" / "x", "--out")
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == []  # the write test cleaned up


def test_an_existing_folder_is_replaced_in_one_step(tmp_path, monkeypatch):
    """Where the system swaps two paths atomically, replacing a folder takes no rename at
    all: no moment exists at which the old folder is gone and the new one not there yet."""
    import os

    from sarssm import io

    final = tmp_path / "best"
    with atomic_dir(final) as tmp:
        (tmp / "a").write_text("old")
    probe = tmp_path / "probe"
    probe.mkdir()
    if not io.exchange(probe, final):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    io.exchange(probe, final)  # swap back
    monkeypatch.setattr(os, "replace", lambda *a: pytest.fail("replace used"))
    with atomic_dir(final, overwrite=True) as tmp:
        (tmp / "a").write_text("new")
    assert (final / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "probe"]
