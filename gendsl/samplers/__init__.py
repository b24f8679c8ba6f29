"""Samplers: moving a trained GAN's samples with its discriminator.

A sampler is a spec (an immutable value that ``gd.show`` prints) compiled against the
latent target ``pi(z) ∝ N(z; 0, I) exp(a d(G(z)) + b)`` of a trained generator and
discriminator into one jitted, scanned, vmapped, mesh-sharded function. See
docs/sampling.md for the math and the departures from the papers.

    target = gd.samplers.target_of(compiled, state)            # or target_from_modules
    cal = gd.samplers.calibrate(target, held_out_real, key)    # Platt scaling
    run = gd.samplers.compile_sampler(gd.samplers.rep_gan(), target.calibrated(cal))
    result = run(jax.random.key(0), num_chains=10_000)         # a SamplerResult

Specs: :func:`independent` (plain ``G``), :func:`drs`, :func:`mh_gan`, :func:`ddls`,
:func:`rep_gan`.
"""

from gendsl.samplers.calibration import (Calibration, CalibrationError, calibrate,
                                         expected_calibration_error, fit_platt)
from gendsl.samplers.compile import CompiledSampler, compile_sampler
from gendsl.samplers.ddls import DDLS, ddls
from gendsl.samplers.drs import DRS, drs
from gendsl.samplers.ess import effective_sample_size
from gendsl.samplers.independent import Independent, independent
from gendsl.samplers.mh_gan import MHGAN, mh_gan
from gendsl.samplers.rep_gan import RepGAN, log_acceptance, rep_gan
from gendsl.samplers.result import ChainOutput, SamplerResult
from gendsl.samplers.target import (LatentTarget, target_from_functions, target_from_modules,
                                    target_of)

__all__ = [
    # specs
    "independent", "drs", "mh_gan", "ddls", "rep_gan",
    "Independent", "DRS", "MHGAN", "DDLS", "RepGAN",
    # targets and calibration
    "LatentTarget", "target_of", "target_from_modules", "target_from_functions",
    "calibrate", "fit_platt", "Calibration", "CalibrationError", "expected_calibration_error",
    # running
    "compile_sampler", "CompiledSampler", "SamplerResult", "ChainOutput",
    "effective_sample_size", "log_acceptance",
]
