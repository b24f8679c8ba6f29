"""The runner: training loop, checkpoints, resume, program files and experiments.

``fit`` trains a compiled program; ``Experiment`` and the program-file protocol
(``DEFAULTS`` + ``build(cfg)``) are what ``gendsl run PROGRAM.py`` executes. See
docs/running.md.
"""

from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.config import STANDARD_DEFAULTS, Config, UnknownConfigKeyError
from gendsl.run.experiment import Experiment, fit_experiment
from gendsl.run.fit import FitResult, fit
from gendsl.run.overrides import apply_overrides, parse_value
from gendsl.run.program_file import build_experiment, load_program_file, program_config
from gendsl.run.resume import CheckpointWarning
from gendsl.run.settings import LoopSettings
from gendsl.run.stepper import Phase, RunState, Stepper

__all__ = [
    "STANDARD_DEFAULTS",
    "CheckpointStore",
    "CheckpointWarning",
    "Config",
    "Experiment",
    "FitResult",
    "LoopSettings",
    "Phase",
    "RunState",
    "Stepper",
    "UnknownConfigKeyError",
    "apply_overrides",
    "build_experiment",
    "fit",
    "fit_experiment",
    "load_program_file",
    "parse_value",
    "program_config",
]
