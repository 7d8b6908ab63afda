"""The validation figure shows the brightest batch, with its error, a colour bar and dB label."""

from types import SimpleNamespace

import torch

from sarssm.train.callbacks import FigureCallback, save_amplitude_figure


def test_the_brightest_validation_batch_is_kept(tmp_path):
    cb = FigureCallback(tmp_path, every_n_epochs=1)
    trainer = SimpleNamespace(sanity_checking=False)
    dim = {"x": torch.ones(4, 8, 1, dtype=torch.complex64), "y": torch.ones(4, 8) * (1 + 0j)}
    bright = {"x": dim["x"], "y": dim["y"] * 10}
    for i, batch in enumerate([dim, bright, dim]):
        cb.on_validation_batch_end(trainer, None, None, batch, i)
    assert torch.equal(cb._batch["y"], bright["y"])


def test_amplitude_figure_has_an_error_panel_and_a_labelled_colour_bar(tmp_path):
    y = torch.randn(3, 64, dtype=torch.complex64)
    fig = save_amplitude_figure(
        [y, y, y * 0.9, y * 0.1 - y * 0.0],
        ["input", "target", "prediction", "error"],
        tmp_path / "f.png",
    )
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert len(fig.axes) == 5  # four panels and the colour bar
    assert "dB" in fig.axes[-1].get_ylabel()
