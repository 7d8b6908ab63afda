"""Curriculum weights, coupled layers and temperature against their closed forms."""

import itertools

import pytest

from sarssm.distill.schedule import (
    PHASES,
    coupling_pairs,
    coupling_stages,
    curriculum_weights,
    matching_layer,
    stage_at,
    strategic_layers,
    temperature_at,
)


def test_curriculum_follows_the_schedule():
    a, b, g, C = 0.8, 0.15, 0.05, 4
    for e in range(C):
        w = curriculum_weights(e, C, a, b, g)
        assert (w.alpha, w.beta, w.gamma, PHASES[w.phase]) == (1.0, 0.0, 0.0, "student_only")
    for e in range(C, 2 * C):
        p = (e - C) / C
        w = curriculum_weights(e, C, a, b, g)
        assert w.alpha == pytest.approx(1 - p * (1 - a))
        assert (w.beta, w.gamma) == (pytest.approx(p * b), pytest.approx(p * g))
        assert PHASES[w.phase] == "gradual_transition"
    for e in (2 * C, 2 * C + 7):
        w = curriculum_weights(e, C, a, b, g)
        assert (w.alpha, w.beta, w.gamma, w.phase) == (a, b, g, 2)
    assert curriculum_weights(0, 0, a, b, g).alpha == a  # no curriculum: targets at once


def test_strategic_layers_are_the_earlier_pipelines():
    assert strategic_layers(1) == [0]
    assert strategic_layers(2) == [0, 1]
    assert strategic_layers(3) == [0, 1, 2]
    assert strategic_layers(4) == [0, 2, 3]
    assert strategic_layers(6) == [1, 3, 4]
    assert strategic_layers(12) == [3, 6, 9]


@pytest.mark.parametrize("teacher,student", [(6, 4), (6, 2), (4, 2), (4, 4), (3, 2), (6, 3)])
def test_pairs_sit_at_equal_relative_depth(teacher, student):
    for t, s in coupling_pairs(teacher, student):
        # the teacher block's end depth is the nearest to the student block's
        depths = [abs((i + 1) / teacher - (s + 1) / student) for i in range(teacher)]
        assert depths[t] == pytest.approx(min(depths))
    assert matching_layer(student - 1, student, teacher) == teacher - 1  # outputs meet


def test_stages_are_cumulative_and_advance():
    stages = coupling_stages(6, 4)
    assert len(stages) == 4
    assert [len(s) for s in stages] == [1, 2, 3, 3]
    for early, late in itertools.pairwise(stages):
        assert late[: len(early)] == early
    assert [stage_at(e, 5) for e in (0, 4, 5, 10, 15, 99)] == [0, 0, 1, 2, 3, 3]
    assert [len(s) for s in coupling_stages(4, 2)] == [1, 2, 2, 2]


def test_dynamic_temperature_anneals_to_one():
    assert temperature_at(3, 10, 4.0, dynamic=False) == 4.0
    assert temperature_at(0, 10, 4.0, dynamic=True) == pytest.approx(4.0)
    assert temperature_at(9, 10, 4.0, dynamic=True) == pytest.approx(1.0)
    mid = temperature_at(4, 10, 4.0, dynamic=True)
    assert 1.0 < mid < 4.0
