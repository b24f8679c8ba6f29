"""The gendsl error family.

Every error gendsl raises on bad input is a :class:`GendslError`. Messages name the
term, player or field at fault and say how to fix it, so users never have to read a
traceback from deep inside JAX to find out what they wrote wrong.
"""

from __future__ import annotations


class GendslError(Exception):
    """Base class of every error raised by gendsl on bad input or bad state."""


class ProgramError(GendslError):
    """A program (players, sources, objectives) is malformed."""


class MissingObjectiveError(ProgramError):
    """A player appears in a program but has no objective and is not frozen."""


class UnknownPlayerError(ProgramError):
    """An objective names a player the program does not have."""


class UnknownDataError(ProgramError):
    """A term reads a data field the batch does not have."""


class NonScalarObjectiveError(ProgramError):
    """An objective does not evaluate to a scalar."""


class ShapeMismatchError(ProgramError):
    """Two terms that must agree in shape (e.g. real and fake samples) do not."""


class SolverError(GendslError):
    """A solver or integrator is misconfigured."""


class TableauError(SolverError):
    """A Butcher tableau is not a valid explicit Runge-Kutta method."""


class PrimitiveError(GendslError):
    """A primitive was called with arguments it cannot lower."""


class KernelError(GendslError):
    """An infinite-width kernel network is misconfigured or got bad inputs."""


class DataError(GendslError):
    """A data source is misconfigured or cannot be read."""


class MetricError(GendslError):
    """A quality metric got inputs it cannot score (wrong shapes, too few samples)."""


class SamplerError(GendslError):
    """A sampler spec, its latent target or its calibration is invalid (a non-positive
    step size, a generator that is not a module of a normal latent, held-out samples a
    discriminator separates perfectly, ...)."""


class GeometryError(GendslError):
    """A latent-geometry call got arguments it cannot use (end points of different
    shapes, a curve with too few nodes, an unknown curve kind, a grid that does not
    contain the end points, ...)."""


class CheckpointError(GendslError):
    """A checkpoint cannot be used."""


class CheckpointMismatchError(CheckpointError):
    """A run directory belongs to another run: its checkpoint was written by a different
    program (fingerprint mismatch), or (:class:`ConfigChangedError`) with another config."""


class ConfigChangedError(CheckpointMismatchError):
    """A resume would change the run's config (a key other than the run-management keys
    ``steps``, ``checkpoint_every``, ...), and changes were not allowed.

    A :class:`CheckpointMismatchError` rather than a :class:`ConfigError`: the config is
    valid on its own (it would start a new run directory), it is the run directory that
    belongs to another run, and the remedies are those of a fingerprint mismatch
    (another run directory), plus ``--allow-changes``. The ``gendsl`` command exits
    with status 1.
    """


class RunDirLockedError(GendslError):
    """Another live process is training in the same run directory."""


class DistributedError(GendslError):
    """A multi-process run could not start JAX's distributed runtime (no coordinator at
    the address, the runtime already started, devices touched before it started)."""


class NonFiniteError(GendslError):
    """Training stopped after too many consecutive non-finite steps."""


class MissingExtraError(GendslError):
    """An optional feature was asked for but the package extra that provides it is not
    installed (the message names the ``pip install`` command)."""


class ConfigError(GendslError):
    """A program file or a ``--set key=value`` override is invalid."""


class ProgramFileError(ConfigError):
    """Running a program file's own code raised an exception (a syntax error, a
    ``NameError`` at import, an exception in ``build(cfg)``).

    The message names the file and line of the user's code and the exception; the
    original exception is chained as ``__cause__``.

    Attributes:
      path: the program file.
      line: the line in the user's code the exception came from (``None`` if unknown).
    """

    def __init__(self, message: str, *, path: str, line: int | None):
        super().__init__(message)
        self.path = path
        self.line = line


class RunDirError(ConfigError):
    """The run directory cannot be used: it is a file, or it (or the parent it would be
    created in) cannot be written."""


class TrainingInterrupted(GendslError):
    """Training stopped on SIGTERM or SIGINT after saving a checkpoint.

    Attributes:
      signal_number: the signal that stopped the run.
      step: the step of the checkpoint saved before stopping.
      exit_code: ``128 + signal_number`` (130 for SIGINT, 143 for SIGTERM), the exit
        status the ``gendsl`` command returns, as a shell does for a killed process.
    """

    def __init__(self, message: str, *, signal_number: int, step: int):
        super().__init__(message)
        self.signal_number = signal_number
        self.step = step
        self.exit_code = 128 + signal_number
