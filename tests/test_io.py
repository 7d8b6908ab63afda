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
