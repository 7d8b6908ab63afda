"""Safe loading: weights only from safetensors or `torch.load(weights_only=True)`; no pickle,
`eval` or `exec` anywhere in the package (checked on its syntax tree, so words in docstrings
do not count); a malicious pickle given wherever a user names a checkpoint runs no code."""

from __future__ import annotations

import ast
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from sarssm.cli import main

from .conftest import ROOT, train_argv

PACKAGE = ROOT / "sarssm"
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "marshal",
                  "joblib"}  # fmt: skip
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}


def unsafe_uses(source: str, name: str = "<source>") -> list[str]:
    """Every place in `source` that imports a pickle-like module, names one, calls
    eval/exec/compile, calls a torch.load without `weights_only=True`, loads numpy with
    `allow_pickle=True`, or loads YAML with anything but `safe_load`."""
    found = []
    tree = ast.parse(source, name)
    for node in ast.walk(tree):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} import {a.name}" for a in node.names
                      if a.name.split(".")[0] in BANNED_MODULES]  # fmt: skip
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if module in BANNED_MODULES:
                found.append(f"{where} from {node.module} import")
            if module == "torch" and any(a.name == "load" for a in node.names):
                found.append(f"{where} from torch import load")
        elif isinstance(node, ast.Name) and node.id in BANNED_MODULES:
            found.append(f"{where} name {node.id}")
        elif isinstance(node, ast.Attribute) and "pickle" in node.attr.lower():
            found.append(f"{where} attribute .{node.attr}")
        elif isinstance(node, ast.Call):
            func = node.func
            keywords = {k.arg: k.value for k in node.keywords}
            if isinstance(func, ast.Name) and func.id in BANNED_CALLS:
                found.append(f"{where} call {func.id}()")
            if isinstance(func, ast.Attribute):
                owner = func.value.id if isinstance(func.value, ast.Name) else None
                if func.attr == "load" and owner == "torch":
                    safe = keywords.get("weights_only")
                    if not (isinstance(safe, ast.Constant) and safe.value is True):
                        found.append(f"{where} torch.load without weights_only=True")
                if owner == "yaml" and func.attr in ("load", "load_all", "unsafe_load",
                                                     "full_load", "full_load_all"):  # fmt: skip
                    found.append(f"{where} yaml.{func.attr}")
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                found.append(f"{where} allow_pickle not False")
    return found


def test_the_checker_finds_each_unsafe_form():
    bad = """
import pickle
from dill import loads
import torch, yaml, numpy as np
torch.load(path)
torch.load(path, weights_only=False)
from torch import load
eval("1")
exec("x = 1")
yaml.load(text)
np.load(f, allow_pickle=True)
obj.read_pickle(f)
"""
    found = unsafe_uses(bad)
    assert len(found) == 10, found
    good = """
import torch, yaml, numpy as np
torch.load(path, map_location="cpu", weights_only=True)
model.eval()
yaml.safe_load(text)
np.load(f, allow_pickle=False)
'''no pickle here: pickle, eval(x), torch.load(p) are only words'''
"""
    assert unsafe_uses(good) == []


def test_the_package_has_no_pickle_eval_exec_or_unsafe_torch_load():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50
    found = [hit for f in files for hit in unsafe_uses(f.read_text(), str(f.relative_to(ROOT)))]
    assert found == []


# --- a malicious checkpoint runs no code -----------------------------------------------------
class Payload:
    """Unpickling this calls os.makedirs(marker): the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.makedirs, (self.marker,))


def malicious_files(folder: Path, marker: Path) -> dict[str, Path]:
    """The same payload as a plain pickle and as a torch.save zip (the checkpoint format)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "evil.pkl"
    raw.write_bytes(pickle.dumps({"state_dict": Payload(marker)}))
    zipped = folder / "evil.ckpt"
    torch.save({"state_dict": {"net.x": Payload(marker)}, "epoch": 0}, zipped)
    assert not marker.exists()
    return {"pickle": raw, "torch.save": zipped}


@pytest.fixture(params=["pickle", "torch.save"])
def evil(request, tmp_path) -> tuple[Path, Path]:
    """(a malicious checkpoint file, the marker its unpickling would create)."""
    marker = tmp_path / "code-ran"
    return malicious_files(tmp_path / "evil", marker)[request.param], marker


def refused(argv: list[str], capsys, marker: Path, *expected: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, (text, err)
    assert not marker.exists(), "the payload ran"


def test_train_resume_refuses_a_malicious_last_ckpt(evil, trained_run, rel_data, tmp_path, capsys):
    bad, marker = evil
    run = shutil.copytree(trained_run, tmp_path / "run")
    shutil.copy(bad, run / "checkpoints" / "last.ckpt")
    argv = train_argv(rel_data, run, "trainer.max_epochs=1", "--resume")
    refused(argv, capsys, marker, "last.ckpt", "not a readable weights-only checkpoint")


def test_distill_refuses_a_malicious_teacher_checkpoint(evil, tmp_path, capsys):
    bad, marker = evil
    base = ["distill", "--student_config", "configs/demo/student.yaml", "--teacher_checkpoint",
            str(bad), "--save_dir", str(tmp_path / "kd")]  # fmt: skip
    refused(base, capsys, marker, str(bad), "weights-only")
    refused([*base, "--teacher_config", "configs/demo/teacher.yaml"], capsys, marker, str(bad))


def test_evaluate_and_focus_refuse_a_malicious_model(evil, trained_run, demo_product, tmp_path,
                                                      capsys):  # fmt: skip
    bad, marker = evil
    model = shutil.copytree(trained_run / "best", tmp_path / "model")
    shutil.copy(bad, model / "model.safetensors")  # a pickle under the weights' name
    for given in (model, bad):  # the folder, and the checkpoint file itself
        refused(["evaluate", "--model", str(given), "--data", str(demo_product), "--out",
                 str(tmp_path / "e")], capsys, marker, str(given))  # fmt: skip
        refused(["focus", "--model", str(given), "--input", str(demo_product), "--out",
                 str(tmp_path / "f")], capsys, marker, str(given))  # fmt: skip
    refused(["distributions", "--model_path", str(bad), "--data", str(demo_product)], capsys,
            marker, str(bad))  # fmt: skip


def test_the_payload_does_run_when_unpickled_unsafely(tmp_path):
    """The control: the same file does run code when loaded without weights_only."""
    marker = tmp_path / "code-ran"
    files = malicious_files(tmp_path / "evil", marker)
    torch.load(files["torch.save"], weights_only=False)
    assert marker.is_dir()
