"""Effective sample size of sampler traces (blackjax's estimator)."""

from __future__ import annotations

import numpy as np

from gendsl.errors import SamplerError


def effective_sample_size(trace) -> float:
    """The effective sample size of a ``(chains, steps)`` trace, e.g.
    :attr:`SamplerResult.trace`.

    For two or more steps it is blackjax's multi-chain estimator (Geyer's initial
    monotone sequence over the chains' pooled autocorrelations, as in Stan); a chain
    that never moves contributes nothing. A single column holds independent draws
    (plain ``G``, DRS), whose effective size is the number of chains.

    Args:
      trace: an array of shape ``(chains, steps)``.
    Returns:
      The effective number of independent draws the trace holds.
    Raises:
      SamplerError: the trace is not two-dimensional.

    >>> effective_sample_size(np.zeros((5, 1)))
    5.0
    """
    trace = np.asarray(trace, dtype=np.float64)
    if trace.ndim != 2:
        raise SamplerError(f"the trace must be (chains, steps), got shape {trace.shape}")
    if trace.shape[1] == 1:
        return float(trace.shape[0])
    # imported here: importing blackjax runs JAX code, which would start JAX's backend
    # when gendsl is imported (before a multi-process run can start its runtime)
    from blackjax.diagnostics import effective_sample_size

    return float(effective_sample_size(trace, chain_axis=0, sample_axis=1))
