"""What changes with the epoch: curriculum weights, coupled layer pairs, temperature.

Curriculum (C = curriculum_epochs, e the epoch, targets a*, b*, g*):
    e <  C:        (1, 0, 0)                               phase 0 "student_only"
    C <= e < 2C:   p = (e - C) / C, (1 - p (1 - a*), p b*, p g*)   phase 1 "gradual_transition"
    e >= 2C:       (a*, b*, g*)                            phase 2 "full_distillation"
C = 0 starts at the targets.

Progressive coupling: student layers at the earlier pipeline's strategic depths, each paired
with the teacher layer at the same relative depth; four cumulative stages (first pair, first
two, first three, all), one every `stage_epochs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PHASES = ("student_only", "gradual_transition", "full_distillation")


@dataclass(frozen=True)
class Weights:
    alpha: float
    beta: float
    gamma: float
    phase: int  # index into PHASES


def curriculum_weights(
    epoch: int, curriculum_epochs: int, alpha: float, beta: float, gamma: float
) -> Weights:
    """The loss weights of `epoch` (see the module docstring)."""
    C = int(curriculum_epochs)
    if C == 0 or epoch >= 2 * C:
        return Weights(alpha, beta, gamma, 2)
    if epoch < C:
        return Weights(1.0, 0.0, 0.0, 0)
    p = (epoch - C) / C
    return Weights(1.0 - p * (1.0 - alpha), p * beta, p * gamma, 1)


def strategic_layers(num_layers: int) -> list[int]:
    """The earlier pipeline's layer choice: early and late (<= 2 layers), early, middle and
    late (<= 4), else the 25 %, 50 % and 75 % depths."""
    n = int(num_layers)
    if n < 1:
        raise ValueError(f"num_layers must be >= 1, got {n}")
    if n <= 2:
        return sorted({0, n - 1})
    if n <= 4:
        return [0, n // 2, n - 1]
    return [n // 4, n // 2, 3 * n // 4]


def matching_layer(student_layer: int, student_layers: int, teacher_layers: int) -> int:
    """The teacher block whose output sits at the student block's relative depth: block j of
    n ends at depth (j + 1) / n, so teacher block round((j + 1) m / n) - 1 of m."""
    depth = (student_layer + 1) / student_layers
    return max(0, min(teacher_layers - 1, math.floor(depth * teacher_layers + 0.5) - 1))


def coupling_pairs(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """(teacher block, student block) pairs at equal relative depth, shallow first."""
    pairs = [
        (matching_layer(j, student_layers, teacher_layers), j)
        for j in strategic_layers(student_layers)
    ]
    return list(dict.fromkeys(pairs))


def coupling_stages(teacher_layers: int, student_layers: int) -> list[list[tuple[int, int]]]:
    """The four cumulative stages: pair 1; pairs 1-2; pairs 1-3; all pairs (fewer stages are
    not merged: a model with two pairs still has four stages, the last three equal)."""
    pairs = coupling_pairs(teacher_layers, student_layers)
    return [pairs[: min(k, len(pairs))] for k in (1, 2, 3)] + [pairs]


def stage_at(epoch: int, stage_epochs: int, stages: int = 4) -> int:
    """Index of the coupling stage at `epoch` (a new stage every `stage_epochs`)."""
    return min(int(epoch) // int(stage_epochs), stages - 1)


def temperature_at(epoch: int, max_epochs: int, temperature: float, dynamic: bool) -> float:
    """T, or with `dynamic` a cosine anneal from T at the first epoch to 1 at the last."""
    if not dynamic or max_epochs <= 1:
        return float(temperature)
    p = min(max(epoch / (max_epochs - 1), 0.0), 1.0)
    return 1.0 + (float(temperature) - 1.0) * 0.5 * (1.0 + math.cos(math.pi * p))
