"""SimVAE's disentanglement against its baseline: a VAE trained jointly on the same
blob simulator's outputs (Srivastava et al., 2019).

    gendsl run programs/simvae_vs_vae_blobs.py                    # the joint VAE
    gendsl run programs/simvae_vs_vae_blobs.py --set model=simvae

Both models see the same data, noisy renders ``x = Sim(T(z)) + obs_noise * e`` of
fresh prior draws (programs/simvae_blobs.py's simulator), and have the same encoder and
decoder networks and the same total number of steps:

- ``model=vae``: encoder and decoder trained together on the ELBO of ``x``; the
  simulator is only the data source, never a teacher;
- ``model=simvae``: programs/simvae_blobs.py's two stages (the decoder learns the
  simulator from ``z``, then the encoder inverts the frozen decoder), each given half
  of ``steps``.

Both are scored alike on held-out noisy renders: a linear probe from the encoder's
latent means to the parameters (fitted on one half, scored on the other) gives
``r2/<parameter>`` (how much of each parameter the code holds, in any linear mix), and
the correlations ``corr/z<i>/<parameter>`` and ``one_to_one`` (see
:func:`gendsl.metrics.parameter_recovery`) say whether each latent holds exactly one
parameter (disentangled) or mixes them.
"""

import jax
import numpy as np
import optax

import gendsl as gd
import simvae_blobs as blobs
from gendsl.metrics import parameter_recovery
from gendsl.recipes import simvae

DEFAULTS = {
    "model": "vae",            # vae (joint baseline) | simvae
    "steps": 6000,             # both models' total steps (simvae: half per stage)
    "batch_size": 128,
    "steps_per_call": 100,
    "checkpoint_every": 1000,
    "log_every": 500,
    "hidden": (256, 256),
    "lr": 1e-3,
    "obs_noise": 0.05,
    "num_test": 2000,
}

MODELS = ("vae", "simvae")


def linear_probe_evaluation(num_test, obs_noise, seed=12345):
    """Returns ``evaluate(compiled, state, key)`` scoring the encoder ``E``'s latent means.

    Args:
      num_test: held-out renders (half fit the probe, half score it).
      obs_noise: their noise standard deviation.
      seed: the held-out set's seed.
    Returns:
      The evaluate function: :func:`gendsl.metrics.parameter_recovery` of the probe's
      predictions on the scoring half, with the latent means as ``latent``.
    """
    k_z, k_noise = jax.random.split(jax.random.key(seed))
    z = jax.random.normal(k_z, (num_test, 3))
    x = jax.vmap(blobs.render)(z)
    x = x + obs_noise * jax.random.normal(k_noise, x.shape)
    truth = np.asarray(blobs.to_params(z), np.float64)
    half = num_test // 2

    def evaluate(compiled, state, key):
        codes = np.asarray(compiled.apply(state, "E", x)[0], np.float64)
        design = np.concatenate([codes, np.ones((num_test, 1))], axis=1)
        coef = np.linalg.lstsq(design[:half], truth[:half], rcond=None)[0]
        return parameter_recovery(design[half:] @ coef, truth[half:], blobs.NAMES,
                                  latent=codes[half:])
    return evaluate


def build(cfg):
    """The joint VAE (``model=vae``) or SimVAE (``model=simvae``) on blobs (see DEFAULTS)."""
    if cfg.model not in MODELS:
        raise gd.errors.ConfigError(f"model must be one of {MODELS}, got {cfg.model!r}: "
                                    "use --set model=vae or --set model=simvae")
    evaluate = linear_probe_evaluation(cfg.num_test, cfg.obs_noise)
    d = blobs.SIZE * blobs.SIZE
    E = gd.player("E", lambda rngs: gd.nn.GaussianEncoder(d, cfg.hidden, 3, rngs=rngs),
                  optax.adam(cfg.lr))
    Dec = gd.player("Dec", lambda rngs: gd.nn.MLP(3, cfg.hidden, d, rngs=rngs,
                                                  out_shape=(blobs.SIZE, blobs.SIZE, 1)),
                    optax.adam(cfg.lr))
    prior = gd.datasets.standard_normal(3, batch_size=cfg.batch_size, seed=cfg.seed)
    sim = gd.simulator(blobs.render)
    if cfg.model == "simvae":
        half = cfg.steps // 2
        staged = simvae(sim, Dec, E, latent_dim=3, obs_noise=cfg.obs_noise,
                        decoder_steps=half, encoder_steps=cfg.steps - half)
        return gd.Experiment(staged, source=(prior, prior), evaluate=evaluate)
    z = gd.data("z")
    x = gd.named("x", sim(z) + cfg.obs_noise * gd.latent("obs_noise", (blobs.SIZE, blobs.SIZE, 1)))
    neg_elbo = -gd.losses.elbo(E, Dec, x, likelihood="gaussian", obs_std=cfg.obs_noise)
    program = gd.program({E: neg_elbo, Dec: neg_elbo}, gd.minimize(),
                         samples=Dec(gd.latent("prior", 3)))
    return gd.Experiment(program, source=prior, evaluate=evaluate)
