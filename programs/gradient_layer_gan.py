"""The gradient layer's generator form on a 2-D mixture, after a plain-GAN warm start.

    gendsl run programs/gradient_layer_gan.py                          # stack, ring of 8
    gendsl run programs/gradient_layer_gan.py --set form=distil        # bounded: G absorbs
    gendsl run programs/gradient_layer_gan.py --set form=gan           # the baseline arm
    gendsl run programs/gradient_layer_gan.py --set data=grid25 --set warm=3000 --set restart=true

Two stages. ``warm`` steps of the non-saturating GAN of programs/gan_mog.py give a weak
generator (set ``warm`` where it plateaus); then ``steps`` steps of one of three forms,
each with ``d_steps`` D updates per step, so arms compare at equal D updates:

* ``form=stack`` (Nitanda & Suzuki, AISTATS 2018): the sampler is ``G_base`` followed by
  gradient layers ``x + eta grad d_i(x)``, one per snapshot of D pushed every ``every``
  steps into a store of ``layers`` slots (``gd.snapshots``, ``gd.push_snapshots``,
  ``gd.gradient_stack``); D trains against the stack's samples. Full: with
  ``restart=false`` it stops growing; with ``restart=true`` G, trained meanwhile to
  match the stack (``min ||G(z) - sg(stack(z))||^2``), becomes the new base and the
  stack empties (distil then restart: at most ``layers`` layers).
* ``form=distil``: no stack; G is trained to match ``layers`` gradient layers of the
  current D applied to its own samples, ``min ||G(z) - sg(GL_D^layers(G(z)))||^2``.
* ``form=gan``: plain GAN steps (the comparison).

summary.json reports the mode metrics on 10,000 samples of the final sampler.
"""

import optax

import gendsl as gd
from gendsl import losses as L

DEFAULTS = {
    "steps": None,            # warm + gl_steps (the stages' budgets)
    "warm": 1000,             # plain GAN steps before the gradient layer (>= 1)
    "gl_steps": 1000,         # steps of the chosen form
    "batch_size": 256,
    "steps_per_call": 100,
    "checkpoint_every": 500,
    "data": "ring8",          # ring8 | grid25
    "form": "stack",          # stack | distil | gan
    "eta": 1e-3,              # gradient-layer step size
    "layers": 32,             # stack capacity (stack) or layers per target (distil)
    "every": 10,              # steps between snapshots (stack)
    "restart": False,         # stack: distil into G and restart when full
    "d_steps": 1,             # D updates per step (every form)
    "latent": 8,
    "hidden": None,           # default (64, 64) on ring8, (128, 128) on grid25
    "g_hidden": None,         # G's widths if they differ from D's (a small, weak G)
    "lr": 2e-3,
}

SOURCES = {"ring8": gd.datasets.ring8, "grid25": gd.datasets.grid25}
HIDDEN = {"ring8": (64, 64), "grid25": (128, 128)}
FORMS = ("stack", "distil", "gan")


def widths(value):
    """Hidden widths from a tuple or from ``--set hidden=128,128`` text."""
    if isinstance(value, int):
        value = (value,)
    if isinstance(value, str):
        value = [w for w in value.strip("()[] ").split(",") if w.strip()]
    return tuple(int(w) for w in value)


def flag(value):
    """A boolean from a bool or ``--set`` text (true/false, 1/0, yes/no)."""
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise gd.errors.ConfigError(f"restart={value!r}: use true or false")
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def sq_dist(a, b):
    """Mean squared distance between the rows of two sample terms."""
    return gd.mean(gd.sq_norm(a - b))


def gl_program(cfg, G, D, x, z):
    """The second stage's program for ``cfg.form``."""
    eta, layers, d_steps = float(cfg.eta), int(cfg.layers), int(cfg.d_steps)
    if cfg.form == "gan":
        fake = G(z)
        return gd.program({D: L.nonsaturating_d(D(x), D(fake)), G: L.nonsaturating_g(D(fake))},
                          gd.alternating(D=d_steps, G=1), samples=fake)
    if cfg.form == "distil":
        fake = G(z)
        target = gd.stop_gradient(gd.gradient_layer(D, fake, eta, steps=layers))
        return gd.program({D: L.nonsaturating_d(D(x), D(fake)),
                           G: gd.named("distil", sq_dist(fake, target))},
                          gd.alternating(D=d_steps, G=1), samples=fake)
    S = gd.snapshots("S", of=D, base=G, capacity=layers)
    fake = gd.gradient_stack(S, z, eta)
    d_loss = L.nonsaturating_d(D(x), D(fake))
    if flag(cfg.restart):
        solver = gd.push_snapshots(gd.alternating(D=d_steps, G=1), S, every=int(cfg.every),
                                   restart=True)
        return gd.program({D: d_loss, G: gd.named("distil", sq_dist(G(z), fake))}, solver,
                          frozen=[S], samples=fake)
    solver = gd.push_snapshots(gd.alternating(D=d_steps), S, every=int(cfg.every))
    return gd.program({D: d_loss}, solver, frozen=[G, S], samples=fake)


def build(cfg):
    """The warm-started gradient-layer experiment for config ``cfg`` (see DEFAULTS)."""
    if cfg.data not in SOURCES:
        raise gd.errors.ConfigError(f"data={cfg.data!r}: choose one of {sorted(SOURCES)}")
    if cfg.form not in FORMS:
        raise gd.errors.ConfigError(f"form={cfg.form!r}: choose one of {list(FORMS)}")
    source = SOURCES[cfg.data](batch_size=cfg.batch_size, seed=cfg.seed)
    hidden = widths(cfg.hidden) if cfg.hidden else HIDDEN[cfg.data]
    adam = optax.adam(cfg.lr, b1=0.5)
    g_hidden = widths(cfg.g_hidden) if cfg.g_hidden else hidden
    G = gd.player("G", lambda rngs: gd.nn.MLP(cfg.latent, g_hidden, 2, rngs=rngs), adam)
    D = gd.player("D", lambda rngs: gd.nn.MLP(2, hidden, 1, rngs=rngs), adam)
    x, z = gd.data("x"), gd.latent("z", cfg.latent)
    warm = gd.program({D: L.nonsaturating_d(D(x), D(G(z))), G: L.nonsaturating_g(D(G(z)))},
                      gd.alternating(D=1, G=1), samples=G(z))
    staged = gd.stages([gd.stage("warm", warm, steps=int(cfg.warm)),
                        gd.stage("gl", gl_program(cfg, G, D, x, z), steps=int(cfg.gl_steps))])
    return gd.Experiment(staged, (source, source))
