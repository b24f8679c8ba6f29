"""The runner: training loop, checkpoints, resume, program files and experiments.

``fit`` trains a compiled program; ``Experiment`` and the program-file protocol
(``DEFAULTS`` + ``build(cfg)``) are what ``gendsl run PROGRAM.py`` executes. See
docs/running.md.
"""

from gendsl.run.checkpoints import CheckpointStore
from gendsl.run.config import STANDARD_DEFAULTS, Config, UnknownConfigKeyError
from gendsl.run.experiment import Experiment, run_experiment
from gendsl.run.fit import FitResult, fit
from gendsl.run.overrides import apply_overrides, parse_value
from gendsl.run.program_file import build_experiment, load_program_file, program_config
from gendsl.run.resume import CheckpointWarning

__all__ = [
    "STANDARD_DEFAULTS",
    "CheckpointStore",
    "CheckpointWarning",
    "Config",
    "Experiment",
    "FitResult",
    "UnknownConfigKeyError",
    "apply_overrides",
    "build_experiment",
    "fit",
    "load_program_file",
    "parse_value",
    "program_config",
    "run_experiment",
]
