"""The distillation LightningModule: a frozen teacher teaches an LTI student.

The teacher is not a submodule: it is out of `parameters()`, out of the optimiser and out of
every checkpoint and export (which hold `net`, the student, and the projections), and the
Trainer's `train()` never reaches it, so it stays frozen in eval mode for the whole run.

Batches are those of `SarDataModule` (x [B, L, C] over the teacher's input channels, the
student reading the centre ones, slant_range [B], y [B, L], labelled [B]).

Logged, per step and epoch: train_total_loss, train_student_loss, train_distillation_loss,
train_feature_loss (+ energy, variance, moment, confidence, forced losses when on) and the
val_ forms; curriculum/alpha|beta|gamma|phase (phase 0 student_only, 1 gradual_transition,
2 full_distillation), progressive/stage, progressive/num_couplings, distill/temperature.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from sarssm.distill.config import DistillConfig
from sarssm.distill.losses import DistillationLoss, feature_terms
from sarssm.distill.projections import FeatureProjection, GroupMean
from sarssm.distill.schedule import (
    coupling_pairs,
    coupling_stages,
    curriculum_weights,
    matching_layer,
    stage_at,
    temperature_at,
)


def pair_key(teacher_layer: int, student_layer: int) -> str:
    return f"t{teacher_layer}_s{student_layer}"


class DistillationModule(L.LightningModule):
    """Student `net` learning from ground truth, the teacher's output and its features."""

    def __init__(
        self, net: nn.Module, teacher: nn.Module, config: DistillConfig, loss_margin: int = 0
    ) -> None:
        super().__init__()
        self.net = net
        object.__setattr__(self, "_teacher", teacher)  # not registered: see the module docstring
        self.cfg = config
        w = config.distillation
        self.criterion = DistillationLoss(
            config.loss, w.feature, w.energy_weight, config.distribution
        )
        self.optim_config = config.optim
        self.schedule_config = config.schedule
        self.loss_margin = int(loss_margin)
        tc, sc = teacher.config, net.config
        k_t, k_s = tc.range_neighbours, sc.range_neighbours
        self.channels = slice(k_t - k_s, k_t + k_s + 1)  # the student's centre columns
        self.stages = coupling_stages(tc.num_layers, sc.num_layers)
        prog = config.progressive
        self.projections = nn.ModuleDict()
        for t_layer, s_layer in coupling_pairs(tc.num_layers, sc.num_layers):
            if prog.enhanced_projections:
                proj = FeatureProjection(sc.model_dim, tc.model_dim, prog.projection_type)
            else:
                proj = GroupMean(tc.model_dim, sc.model_dim)  # applied to the teacher side
            self.projections[pair_key(t_layer, s_layer)] = proj
        self.forced = nn.ModuleDict()
        if config.beyond.teacher_forced_epochs:
            for j in range(sc.num_layers):
                self.forced[f"enc{j}"] = FeatureProjection(tc.model_dim, sc.model_dim, "linear")
                self.forced[f"dec{j}"] = FeatureProjection(sc.model_dim, tc.model_dim, "linear")
                if tc.model_dim == sc.model_dim:
                    with torch.no_grad():
                        for name in (f"enc{j}", f"dec{j}"):
                            self.forced[name].linear.weight.copy_(torch.eye(2 * sc.model_dim))

    # --- the teacher -----------------------------------------------------------------------
    @property
    def teacher(self) -> nn.Module:
        if next(self._teacher.parameters()).device != self.device:
            self._teacher.to(self.device)
        return self._teacher

    # --- schedule --------------------------------------------------------------------------
    def weights(self, epoch: int) -> tuple[float, float, float, int]:
        w = self.cfg.distillation
        cw = curriculum_weights(epoch, w.curriculum_epochs, w.alpha, w.beta, w.gamma)
        return cw.alpha, cw.beta, cw.gamma, cw.phase

    def couplings(self, epoch: int) -> list[tuple[int, int]]:
        if not self.cfg.progressive.enabled:
            return self.stages[-1]
        return self.stages[stage_at(epoch, self.cfg.progressive.stage_epochs, len(self.stages))]

    def temperature(self, epoch: int) -> float:
        w = self.cfg.distillation
        max_epochs = self.trainer.max_epochs if self._trainer is not None else 1
        return temperature_at(epoch, max_epochs or 1, w.temperature, w.dynamic_temperature)

    def forced_phase(self, epoch: int) -> bool:
        return epoch < self.cfg.beyond.teacher_forced_epochs

    # --- steps -----------------------------------------------------------------------------
    def _crop(self, z: Tensor) -> Tensor:
        m = self.loss_margin
        return z[:, m : z.shape[1] - m] if m else z

    def pair_features(
        self, s_feats: dict[str, Tensor], t_feats: dict[str, Tensor], pairs: list[tuple[int, int]]
    ) -> list[tuple[Tensor, Tensor]]:
        """(student side, teacher side) of each coupled pair, cropped, at a common width."""
        out = []
        for t_layer, s_layer in pairs:
            proj = self.projections[pair_key(t_layer, s_layer)]
            s = self._crop(s_feats[f"blocks.{s_layer}"])
            t = self._crop(t_feats[f"blocks.{t_layer}"])
            out.append((s, proj(t)) if isinstance(proj, GroupMean) else (proj(s), t))
        return out

    def losses(self, batch: dict[str, Tensor], epoch: int) -> tuple[Tensor, dict[str, Tensor]]:
        x, r0 = batch["x"], batch.get("slant_range")
        with torch.no_grad():
            t_out, t_feats = self.teacher(x, r0, return_features=True)
        pred, s_feats = self.net(x[..., self.channels], r0, return_features=True)
        alpha, beta, gamma, _ = self.weights(epoch)
        pairs = self.pair_features(s_feats, t_feats, self.couplings(epoch))
        labelled = batch.get("labelled")
        if labelled is None:
            labelled = torch.ones(pred.shape[0], dtype=torch.bool, device=pred.device)
        total, terms = self.criterion(
            self._crop(pred),
            self._crop(t_out),
            self._crop(batch["y"]),
            labelled,
            pairs,
            (alpha, beta, gamma),
            self.temperature(epoch),
        )
        terms["_pred"] = pred.detach()
        return total, terms

    def forced_losses(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Teacher-forced alignment: student block j is fed the teacher's hidden state at the
        input of the teacher blocks it replaces (through encoder j) and must give the state at
        their output (through decoder j); the blocks learn independently."""
        x, r0 = batch["x"], batch.get("slant_range")
        teacher = self.teacher
        Lt, Ls = teacher.config.num_layers, self.net.config.num_layers
        with torch.no_grad():
            hidden, start, length = teacher.hidden_states(x, r0)
        losses = []
        first = 0
        for j, block in enumerate(self.net.blocks):
            last = matching_layer(j, Ls, Lt)
            out = block(self.forced[f"enc{j}"](hidden[first]))
            est = self.forced[f"dec{j}"](out)[:, start : start + length]
            ref = hidden[last + 1][:, start : start + length]
            losses.append(
                feature_terms(self._crop(est), self._crop(ref), self.cfg.distillation.feature)
            )
            first = last + 1
        forced = torch.stack(losses).mean()
        return forced, {"forced_loss": forced, "total_loss": forced}

    def _log_terms(self, stage: str, terms: dict[str, Tensor], batch_size: int) -> None:
        for name, value in terms.items():
            if name.startswith("_"):
                continue
            self.log(  # epoch means under the earlier pipeline's exact names
                f"{stage}_{name}",
                value,
                prog_bar=name == "total_loss",
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        epoch = self.current_epoch
        if self.forced_phase(epoch):
            total, terms = self.forced_losses(batch)
        else:
            total, terms = self.losses(batch, epoch)
        self._log_terms("train", terms, batch["x"].shape[0])
        alpha, beta, gamma, phase = self.weights(epoch)
        pairs = self.couplings(epoch)
        stage = stage_at(epoch, self.cfg.progressive.stage_epochs, len(self.stages))
        schedule = {
            "curriculum/alpha": alpha,
            "curriculum/beta": beta,
            "curriculum/gamma": gamma,
            "curriculum/phase": float(phase),
            "progressive/stage": float(
                stage if self.cfg.progressive.enabled else len(self.stages) - 1
            ),
            "progressive/num_couplings": float(len(pairs)),
            "distill/temperature": self.temperature(epoch),
            "distill/teacher_forced": float(self.forced_phase(epoch)),
        }
        self.log_dict(  # the same on every rank: the reduction only quiets Lightning's warning
            schedule, on_step=False, on_epoch=True, batch_size=batch["x"].shape[0], sync_dist=True
        )
        return total

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def _eval_step(self, batch: dict[str, Tensor], stage: str) -> None:
        from sarssm.eval.metrics import evaluate_arrays

        _, terms = self.losses(batch, self.current_epoch)
        pred = self._crop(terms["_pred"])
        self._log_terms(stage, terms, pred.shape[0])
        metrics = evaluate_arrays(pred, self._crop(batch["y"]), spatial_dims=1)
        for key in ("nmse_db", "coherence", "psnr_db", "ssim", "collapse_ratio"):
            self.log(
                f"{stage}/{key}",
                float(metrics[key]),
                on_epoch=True,
                batch_size=pred.shape[0],
                sync_dist=True,
            )

    # --- checkpoints and optimiser ---------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from sarssm.train.module import save_run_state

        save_run_state(checkpoint, self.net)
        epoch = self.current_epoch  # the epoch just finished (saved at its validation end)
        checkpoint["distill_schedule"] = {
            "epoch": int(epoch),
            "progressive_stage": stage_at(
                epoch, self.cfg.progressive.stage_epochs, len(self.stages)
            ),
            "curriculum_phase": self.weights(epoch)[3],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from sarssm.train.module import load_run_state

        load_run_state(checkpoint)

    def configure_optimizers(self) -> dict[str, Any]:
        from sarssm.train.module import adamw_with_schedule

        # the student and the projections; the teacher is not a submodule
        return adamw_with_schedule(self, self, self.optim_config, self.schedule_config)
