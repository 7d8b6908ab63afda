"""Modal truncation: the kept modes are the teacher's own and its strongest."""

import pytest
import torch

from sarssm.distill.init import init_from_teacher, mode_energy, teacher_modes
from sarssm.models import build_model
from sarssm.models.ops import vandermonde


def gate_teacher(**kw):
    torch.manual_seed(0)
    return build_model("demo-teacher", selectivity="gate", **kw).eval()


def test_mode_energy_is_the_kernel_energy_of_each_mode():
    teacher = gate_teacher(state_dim=8, num_layers=2)
    modes = teacher_modes(teacher.blocks[0].ssm)
    energy = mode_energy(modes)  # [H, N]
    kernel = teacher.blocks[0].ssm.ssm.kernel
    log_dA, dB, C = kernel.discrete()
    for h, n in [(0, 0), (3, 5), (15, 7)]:
        k = torch.arange(20000, dtype=torch.float64)
        taps = (C[h, n] * dB[h, n]).to(torch.cdouble) * torch.exp(
            k * log_dA[h, n].to(torch.cdouble)
        )
        assert float(energy[h, n]) == pytest.approx(float(taps.abs().square().sum()), rel=1e-3)


def test_a_student_of_the_teachers_size_gets_its_kernels():
    teacher = gate_teacher(state_dim=8, num_layers=2)
    student = build_model("demo-standard", state_dim=8, num_layers=2)
    init_from_teacher(student, teacher)
    for sb, tb in zip(student.blocks, teacher.blocks, strict=True):
        assert torch.allclose(sb.ssm.kernel(64), tb.ssm.ssm.kernel(64), atol=1e-6)
        assert torch.equal(sb.mix.weight, tb.mix.weight)


def test_truncation_keeps_the_strongest_modes_and_channels():
    teacher = gate_teacher(state_dim=16, num_layers=4)
    student = build_model("demo-tiny", state_dim=4)  # 4 wide, 2 layers
    info = init_from_teacher(student, teacher)
    head = torch.view_as_complex(teacher.head.weight)[0].abs()
    assert sorted(info["channels"]) == sorted(torch.argsort(head, descending=True)[:4].tolist())
    assert info["teacher_blocks"] == [1, 3]  # equal relative depth
    keep = torch.tensor(info["channels"])
    modes = teacher_modes(teacher.blocks[1].ssm)
    energy = mode_energy(modes)[keep]
    kept = mode_energy(teacher_modes(student.blocks[0].ssm))
    top = torch.sort(energy, dim=1, descending=True).values[:, :4]
    assert torch.allclose(torch.sort(kept, dim=1, descending=True).values, top, rtol=1e-5)
    # the student's kernel is the teacher's strongest part: most of its energy
    t_k = vandermonde(*_cdb(teacher.blocks[1].ssm.ssm.kernel), 512)[keep]
    s_k = vandermonde(*_cdb(student.blocks[0].ssm.kernel), 512)
    assert float(s_k.abs().square().sum() / t_k.abs().square().sum()) > 0.4


def _cdb(kernel):
    log_dA, dB, C = kernel.discrete()
    return C * dB, log_dA
