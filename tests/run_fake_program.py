"""A program file (DEFAULTS + build) over the runner's stand-ins, for CLI tests."""

from run_fakes import FakeProgram, FakeSource

from gendsl.run import Experiment

DEFAULTS = {
    "steps": 12,
    "log_every": 4,
    "checkpoint_every": 6,
    "batch_size": 32,
    "lr": 0.05,
    "nan_steps": (),
    "delay_s": 0.0,
    "use_bias": True,
    "name": "fake",
}


def build(cfg):
    """The experiment of this config."""
    return Experiment(
        program=FakeProgram(lr=cfg.lr, nan_steps=tuple(cfg.nan_steps), name=cfg.name),
        source=FakeSource(batch_size=cfg.batch_size, delay_s=cfg.delay_s),
    )
