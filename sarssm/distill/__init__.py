"""Knowledge distillation: a frozen (selective) teacher teaches an LTI student.

`run.distill` is the whole run; `losses` the loss, `schedule` what changes with the epoch
(curriculum, coupling stages, temperature), `projections` the width maps, `module` the
LightningModule, `teacher` loading and checks, `init` modal truncation, `monitor` gradient
statistics, `diagnostics` the comparison and analysis helpers.
"""
