"""The gradient layer against plain GAN steps, from a plateaued generator; and the flow check.

Three experiments (Nitanda & Suzuki, AISTATS 2018; docs/gradient_layer.md), each over
``--seeds``:

1. **grid-25.** A plain non-saturating GAN with a small generator (``--g-hidden``, D
   128x128) trains until it has *plateaued*: every ``--every`` steps 10,000 samples are
   scored (modes covered, high-quality fraction), and it stops when the means of both
   over the last ``--window`` evaluations differ from the means over the ``--window``
   before by less than ``--tol-modes`` modes and ``--tol-hq`` (or at ``--warm-max``).
   From that state (G and D parameters copied into each arm's fresh state, fresh Adam
   states for every arm) four arms of programs/gradient_layer_gan.py run ``--gl-steps``
   steps, each with one D update per step (equal D updates): ``gan`` (plain GAN steps),
   ``stack`` (the paper's construction: a layer per D snapshot, every 10 steps, capacity
   32), ``restart`` (stack distilled into G and restarted when full) and ``distil``
   (G matches 4 layers of the current D). Modes / high-quality fraction / KL of the mode
   histogram are recorded against steps and against wall-clock (training time only; the
   first call's compilation is done on a throwaway copy of the state and not counted).
2. **digits.** The same on scikit-learn's 8x8 digits (the architecture of
   programs/gan_digits.py with the sigmoid inside G so that every form's samples are
   pixels): plateau on KID (relative change of the window means below ``--tol-kid``),
   then arms ``gan``, ``stack`` and ``distil``; KID against steps and wall-clock.
3. **flow check.** The particle form (programs/gradient_layer_points.py) on grid-25
   scaled by 20 (std 0.45, so that steps ``eta`` in {0.02, 0.05, 0.1} stay below
   ``std^2``), flow time ``eta * T = --horizon`` fixed and D updates per unit of flow
   time fixed (``d_steps = --d-rate * eta``), so only the discretisation changes. At 9
   points along the flow a fresh logistic discriminator (MLP 64x64, Adam) is fitted on
   half the particles against as many data points; its mean logit on the other half
   estimates ``KL(q || p)``. Claims: the final metrics agree across ``eta`` (spread of
   modes <= 2, of high-quality fraction <= 0.05, of the KL estimate <= 0.1) and the KL
   estimate falls monotonically along each flow (every step down, and down up to a
   slack of 0.02 nats).

Writes benchmarks/results/gradient_layer_study[_<tag>].json and .png figures next to it,
and prints the tables. ``--quick`` is a sub-minute smoke run (tiny budgets, one seed, no
claim), used by tests/test_gradient_layer_study.py.

    python benchmarks/gradient_layer_study.py --seeds 0 1 2
    python benchmarks/gradient_layer_study.py --quick --out /tmp/glq
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import gendsl as gd
from gendsl import losses as L
from gendsl.run import build_experiment, load_program_file, program_config
from gendsl.run.batches import chunk_batches

ROOT = Path(__file__).resolve().parents[1]
MOG_ARMS = {"gan": ["form=gan"], "stack": ["form=stack"],
            "restart": ["form=stack", "restart=true"], "distil": ["form=distil", "layers=4"]}
DIGIT_ARMS = ("gan", "stack", "distil")
ETAS = (0.02, 0.05, 0.1)


# ----------------------------------------------------------------------------- helpers

def plateaued(history: list[dict], keys: dict[str, float], window: int,
              relative: bool = False) -> bool:
    """Whether the last ``window`` evaluations' means moved less than ``keys[k]`` from the
    ``window`` before, for every metric ``k`` (relative change if ``relative``)."""
    if len(history) < 2 * window:
        return False
    for k, tol in keys.items():
        last = np.mean([h[k] for h in history[-window:]])
        before = np.mean([h[k] for h in history[-2 * window:-window]])
        change = abs(last - before) / max(abs(before), 1e-12) if relative else abs(last - before)
        if change >= tol:
            return False
    return True


def copy_state(state):
    """A copy of a train state (the steps donate theirs)."""
    return jax.tree.map(jnp.copy, state)


def run_steps(step_many, state, source, start: int, steps: int, every: int, score,
              per: int = 1):
    """Runs ``steps`` steps in chunks of ``every``, scoring after each; returns the state
    and rows ``{step, seconds, **score(state)}`` (seconds: training time, compile excluded)."""
    warm = copy_state(state)  # compile on a throwaway copy
    jax.block_until_ready(step_many(warm, chunk_batches(source, start, every, per)))
    rows, spent = [{"step": 0, "seconds": 0.0, **score(state)}], 0.0
    for done in range(every, steps + 1, every):
        batches = chunk_batches(source, start + done - every, every, per)
        t0 = time.perf_counter()
        state, _ = step_many(state, batches)
        jax.block_until_ready(state)
        spent += time.perf_counter() - t0
        rows.append({"step": done, "seconds": round(spent, 3), **score(state)})
    return state, rows


def mode_score(sample, source, key_seed: int = 1):
    """``state -> {modes, hq, kl}`` on 10,000 samples of ``sample``."""
    def score(state):
        m = source.evaluate(np.asarray(sample(state, jax.random.key(key_seed), 10_000)))
        return {"modes": float(m["modes_covered"]), "hq": float(m["high_quality_fraction"]),
                "kl": float(m["kl_from_uniform"])}
    return score


def stats(values) -> dict:
    """Mean and (population) std of a list of numbers."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std())}


# ----------------------------------------------------------------------------- grid-25

def mog_experiment(overrides: list[str]):
    """Compiled programs/gradient_layer_gan.py and its source for ``overrides``."""
    module = load_program_file(ROOT / "programs" / "gradient_layer_gan.py")
    exp = build_experiment(module, program_config(module, overrides))
    return gd.compile(exp.program), exp.source[0]


def mog_seed(seed: int, args) -> dict:
    """Warm-up to a plateau, then every arm from the plateaued state, for one seed."""
    base = ["data=grid25", f"g_hidden={args.g_hidden}", f"warm={args.warm_max}",
            f"gl_steps={args.gl_steps}", f"seed={seed}", f"eta={args.eta}"]
    compiled, source = mog_experiment([*base, "form=gan"])
    state = compiled.init(jax.random.key(seed), source.batch(0))
    warm = compiled.stages[0]
    score = mode_score(warm.compiled.sample, source)
    history, step = [{"step": 0, **score(state)}], 0
    while step < args.warm_max and not plateaued(
            history, {"modes": args.tol_modes, "hq": args.tol_hq}, args.window):
        state, _ = warm.step_many(state, chunk_batches(source, step, args.every))
        step += args.every
        history.append({"step": step, **score(state)})
    params = {n: state.params[n] for n in ("G", "D")}
    arms = {}
    for arm in args.mog_arms:
        extra = MOG_ARMS[arm]
        c, _ = mog_experiment([*base, *extra])
        s = c.init(jax.random.key(seed), source.batch(0))
        s = s.replace(params={**s.params, **copy_state(params)})
        gl = c.stages[1]
        _, rows = run_steps(gl.step_many, s, source, step, args.gl_steps, args.every,
                            mode_score(gl.compiled.sample, source))
        arms[arm] = rows
        print(f"grid25 seed {seed} {arm:8s} " + " ".join(
            f"{r['step']}:{r['modes']:.0f}/{r['hq']:.2f}" for r in rows[::max(1, len(rows) // 5)]),
            flush=True)
    return {"warm_steps": step, "plateaued": step < args.warm_max or plateaued(
        history, {"modes": args.tol_modes, "hq": args.tol_hq}, args.window),
        "warm_history": history, "arms": arms}


# ----------------------------------------------------------------------------- digits

def leaky_relu(v):
    """LeakyReLU(0.2), gan_digits' discriminator nonlinearity."""
    return jax.nn.leaky_relu(v, 0.2)


class PixelG(nnx.Module):
    """gan_digits' generator with the sigmoid inside: ``z -> sigmoid(MLP(z))``, (n, 8, 8, 1)."""

    def __init__(self, latent: int, hidden: tuple, *, rngs: nnx.Rngs):
        self.mlp = gd.nn.MLP(latent, hidden, 64, rngs=rngs, out_shape=(8, 8, 1))

    def __call__(self, z):
        return jax.nn.sigmoid(self.mlp(z))


def digits_programs(args, seed: int, form: str):
    """The staged digits program (plain-GAN warm stage, then ``form``) and its source."""
    source = gd.datasets.digits(batch_size=128, split="train", seed=seed)
    hidden = (256, 256)
    adam = optax.adam(5e-4, b1=0.5)
    G = gd.player("G", lambda rngs: PixelG(16, hidden, rngs=rngs), adam)
    D = gd.player("D", lambda rngs: gd.nn.MLP(64, hidden, 1, rngs=rngs,
                                              activation=leaky_relu), adam)
    x, z = gd.data("x"), gd.latent("z", 16)

    def d_loss(fake):
        return L.nonsaturating_d(D(x), D(fake)) + 0.5 * L.r1(D, x)

    warm = gd.program({D: d_loss(G(z)), G: L.nonsaturating_g(D(G(z)))},
                      gd.alternating(D=1, G=1), samples=G(z))
    eta = args.digits_eta
    if form == "gan":
        gl = warm
    elif form == "distil":
        target = gd.stop_gradient(gd.gradient_layer(D, G(z), eta, steps=4))
        gl = gd.program({D: d_loss(G(z)),
                         G: gd.named("distil", gd.mean(gd.sq_norm(G(z) - target)))},
                        gd.alternating(D=1, G=1), samples=G(z))
    else:
        S = gd.snapshots("S", of=D, base=G, capacity=16)
        fake = gd.gradient_stack(S, z, eta)
        gl = gd.program({D: d_loss(fake)},
                        gd.push_snapshots(gd.alternating(D=1), S, every=10),
                        frozen=[G, S], samples=fake)
    staged = gd.stages([gd.stage("warm", warm, steps=args.digits_warm_max),
                        gd.stage("gl", gl, steps=args.digits_steps)])
    return gd.compile(staged), source


def kid_score(sample, n: int):
    """``state -> {kid}``: KID of ``n`` samples against the digits test split."""
    def score(state):
        imgs = np.clip(np.asarray(sample(state, jax.random.key(1), n)), 0.0, 1.0)
        return {"kid": float(gd.metrics.digits_kid(imgs, seed=0, subsets=20)["kid_mean"])}
    return score


def digits_seed(seed: int, args) -> dict:
    """Warm-up to a KID plateau, then every digits arm, for one seed."""
    compiled, source = digits_programs(args, seed, "gan")
    state = compiled.init(jax.random.key(seed), source.batch(0))
    warm = compiled.stages[0]
    score = kid_score(warm.compiled.sample, args.kid_samples)
    history, step = [{"step": 0, **score(state)}], 0
    while step < args.digits_warm_max and not plateaued(
            history, {"kid": args.tol_kid}, args.window, relative=True):
        state, _ = warm.step_many(state, chunk_batches(source, step, args.digits_every))
        step += args.digits_every
        history.append({"step": step, **score(state)})
    params = {n: state.params[n] for n in ("G", "D")}
    arms = {}
    for arm in args.digit_arms:
        c, _ = digits_programs(args, seed, arm)
        s = c.init(jax.random.key(seed), source.batch(0))
        s = s.replace(params={**s.params, **copy_state(params)})
        gl = c.stages[1]
        _, rows = run_steps(gl.step_many, s, source, step, args.digits_steps, args.digits_every,
                            kid_score(gl.compiled.sample, args.kid_samples))
        arms[arm] = rows
        print(f"digits seed {seed} {arm:8s} " + " ".join(
            f"{r['step']}:{r['kid']:.4f}" for r in rows[::max(1, len(rows) // 5)]), flush=True)
    return {"warm_steps": step, "plateaued": step < args.digits_warm_max,
            "warm_history": history, "arms": arms}


# ----------------------------------------------------------------------------- flow check

def refit_kl(moved: np.ndarray, real: np.ndarray, seed: int, steps: int) -> float:
    """KL(q || p) estimated by a freshly fitted logistic discriminator.

    An MLP (64x64, ReLU, standardised inputs) is trained by Adam on the first half of
    the moved points (label 1) against as many data points (label 0), balanced, so its
    logit estimates ``log q / p``; the estimate is its mean logit on the other half of the
    moved points (held out, so an overfitted refit does not inflate it).
    """
    n = len(moved) // 2
    graphdef, params = nnx.split(gd.nn.MLP(2, (64, 64), 1, rngs=nnx.Rngs(seed)))
    xs = jnp.concatenate([jnp.asarray(moved[:n]), jnp.asarray(real[:n])])
    ys = jnp.concatenate([jnp.ones(n), jnp.zeros(n)])
    return float(_refit(graphdef, steps)(params, xs, ys, jnp.asarray(moved[n:])))


@functools.lru_cache(maxsize=None)
def _refit(graphdef, steps: int):
    """The jitted refit ``(params, xs, ys, held) -> mean logit on held`` (compiled once)."""
    opt = optax.adam(3e-3)

    @jax.jit
    def run(params, xs, ys, held):
        mu, sd = xs.mean(0), xs.std(0) + 1e-6

        def logit(p, v):
            return nnx.merge(graphdef, p)((v - mu) / sd)[:, 0]

        def body(carry, _):
            p, o = carry
            g = jax.grad(lambda q: optax.sigmoid_binary_cross_entropy(logit(q, xs), ys).mean())(p)
            u, o = opt.update(g, o, p)
            return (optax.apply_updates(p, u), o), None
        (p, _), _ = jax.lax.scan(body, (params, opt.init(params)), None, length=steps)
        return jnp.mean(logit(p, held))
    return run


def flow_seed(seed: int, args) -> dict:
    """The particle flow for every ``eta`` with ``eta * T`` fixed, for one seed."""
    module = load_program_file(ROOT / "programs" / "gradient_layer_points.py")
    out = {}
    for eta in ETAS:
        T = int(round(args.horizon / eta))
        d_steps = max(1, int(round(args.d_rate * eta)))
        cfg = program_config(module, ["data=grid25", "scale=20", f"eta={eta}",
                                      f"d_steps={d_steps}", f"seed={seed}",
                                      f"points={args.points}"])
        exp = build_experiment(module, cfg)
        compiled, source = gd.compile(exp.program), exp.source
        state = compiled.init(jax.random.key(seed), source.batch(0))
        real = source.sample(args.points, seed=10_000 + seed)
        marks = np.linspace(0, T, args.marks).round().astype(int)

        def score(state):
            moved = np.asarray(state.params["X"])
            m = source.evaluate(moved)
            return {"modes": float(m["modes_covered"]), "hq": float(m["high_quality_fraction"]),
                    "kl_uniform": float(m["kl_from_uniform"]),
                    "kl_refit": refit_kl(moved, real, seed, args.refit_steps)}
        rows, t0 = [{"step": 0, "time": 0.0, **score(state)}], time.perf_counter()
        for a, b in zip(marks[:-1], marks[1:]):
            if b > a:
                state, _ = compiled.step_many(state, chunk_batches(source, int(a), int(b - a)))
            rows.append({"step": int(b), "time": round(float(b) * eta, 4), **score(state)})
        kls = [r["kl_refit"] for r in rows]
        out[str(eta)] = {"T": T, "d_steps": d_steps, "d_updates": T * d_steps, "rows": rows,
                         "seconds": round(time.perf_counter() - t0, 1),
                         "monotone": bool(all(b < a for a, b in zip(kls, kls[1:]))),
                         "monotone_slack": bool(all(b < a + args.slack
                                                    for a, b in zip(kls, kls[1:])))}
        print(f"flow seed {seed} eta {eta}: T={T} d_steps={d_steps} " + " ".join(
            f"t={r['time']:.1f}:{r['modes']:.0f}/{r['hq']:.2f}/KL~{r['kl_refit']:.2f}"
            for r in rows[::2]), flush=True)
    finals = {k: [out[str(e)]["rows"][-1][k] for e in ETAS] for k in ("modes", "hq", "kl_refit")}
    spread = {k: float(max(v) - min(v)) for k, v in finals.items()}
    out["spread"] = spread
    out["agree"] = bool(spread["modes"] <= 2 and spread["hq"] <= 0.05 and spread["kl_refit"] <= 0.1)
    return out


# ----------------------------------------------------------------------------- summary

def summarise(results: dict, args: argparse.Namespace) -> dict:
    """Mean ± std of the final metrics per arm, and how many seeds support each claim."""
    summary = {}
    if "grid25" in results:
        runs = results["grid25"]
        table = {arm: {k: stats([runs[s]["arms"][arm][-1][k] for s in runs])
                       for k in ("modes", "hq", "kl", "seconds")} for arm in args.mog_arms}
        start = {k: stats([runs[s]["arms"]["gan"][0][k] for s in runs]) for k in ("modes", "hq", "kl")}
        beats = {arm: int(sum(runs[s]["arms"][arm][-1]["hq"] > runs[s]["arms"]["gan"][-1]["hq"]
                              and runs[s]["arms"][arm][-1]["modes"]
                              >= runs[s]["arms"]["gan"][-1]["modes"] for s in runs))
                 for arm in args.mog_arms if arm != "gan"}
        summary["grid25"] = {"plateau": start, "final": table,
                             "seeds_beating_gan_hq_and_modes": beats, "seeds": len(runs),
                             "warm_steps": [runs[s]["warm_steps"] for s in runs]}
    if "digits" in results:
        runs = results["digits"]
        table = {arm: {k: stats([runs[s]["arms"][arm][-1][k] for s in runs])
                       for k in ("kid", "seconds")} for arm in args.digit_arms}
        beats = {arm: int(sum(runs[s]["arms"][arm][-1]["kid"] < runs[s]["arms"]["gan"][-1]["kid"]
                              for s in runs)) for arm in args.digit_arms if arm != "gan"}
        summary["digits"] = {"plateau_kid": stats([runs[s]["arms"]["gan"][0]["kid"] for s in runs]),
                             "final": table, "seeds_beating_gan_kid": beats, "seeds": len(runs),
                             "warm_steps": [runs[s]["warm_steps"] for s in runs]}
    if "flow" in results:
        runs = results["flow"]
        finals = {str(e): {k: stats([runs[s][str(e)]["rows"][-1][k] for s in runs])
                           for k in ("modes", "hq", "kl_uniform", "kl_refit")} for e in ETAS}
        summary["flow"] = {
            "final": finals, "seeds": len(runs),
            "seeds_agreeing": int(sum(runs[s]["agree"] for s in runs)),
            "monotone_runs": int(sum(runs[s][str(e)]["monotone"] for s in runs for e in ETAS)),
            "monotone_slack_runs": int(sum(runs[s][str(e)]["monotone_slack"]
                                           for s in runs for e in ETAS)),
            "runs": len(runs) * len(ETAS)}
    return summary


def plot(results: dict, stem: Path, args: argparse.Namespace) -> list[str]:
    """Figures: metrics against steps and seconds (mean over seeds), the flow's KL."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []

    def curves(ax, runs, arms, key, xkey):
        for arm in arms:
            rows = [runs[s]["arms"][arm] for s in runs]
            x = np.mean([[r[xkey] for r in rs] for rs in rows], 0)
            y = np.asarray([[r[key] for r in rs] for rs in rows])
            ax.plot(x, y.mean(0), label=arm)
            ax.fill_between(x, y.mean(0) - y.std(0), y.mean(0) + y.std(0), alpha=0.2)
        ax.set_xlabel("steps after the plateau (= D updates)" if xkey == "step"
                      else "training seconds after the plateau")
        ax.set_ylabel(key)
        ax.legend(fontsize=7)

    for name, arms, keys in (("grid25", args.mog_arms, ("modes", "hq")),
                             ("digits", args.digit_arms, ("kid",))):
        if name not in results:
            continue
        fig, axes = plt.subplots(len(keys), 2, figsize=(10, 3.2 * len(keys)), squeeze=False)
        for i, key in enumerate(keys):
            for j, xkey in enumerate(("step", "seconds")):
                curves(axes[i, j], results[name], arms, key, xkey)
        fig.suptitle(f"{name}: gradient-layer forms vs plain GAN steps from a plateau")
        fig.tight_layout()
        path = stem.with_name(f"{stem.name}_{name}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(str(path))
    if "flow" in results:
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
        for eta in ETAS:
            rows = [results["flow"][s][str(eta)]["rows"] for s in results["flow"]]
            t = [r["time"] for r in rows[0]]
            for ax, key in zip(axes, ("kl_refit", "modes", "hq")):
                y = np.asarray([[r[key] for r in rs] for rs in rows])
                ax.errorbar(t, y.mean(0), yerr=y.std(0), label=f"eta={eta}", capsize=2)
                ax.set_xlabel("flow time eta * step")
                ax.set_ylabel({"kl_refit": "KL(q||p), refitted D", "modes": "modes",
                               "hq": "high-quality fraction"}[key])
        axes[0].legend()
        fig.suptitle("flow check: particles, eta * T fixed")
        fig.tight_layout()
        path = stem.with_name(f"{stem.name}_flow.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(str(path))
    return written


def parse(argv=None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of every part")
    p.add_argument("--parts", nargs="+", default=["grid25", "digits", "flow"],
                   choices=["grid25", "digits", "flow"], help="experiments to run")
    p.add_argument("--quick", action="store_true",
                   help="sub-minute smoke run: one seed, tiny budgets (no claim)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="directory of the JSON and figures")
    p.add_argument("--tag", default="", help="suffix of the output names")
    g = p.add_argument_group("grid-25")
    g.add_argument("--g-hidden", default="16,16", help="the weak generator's widths")
    g.add_argument("--mog-arms", nargs="+", default=list(MOG_ARMS), choices=list(MOG_ARMS),
                   help="arms after the plateau (gan is the baseline; keep it first)")
    g.add_argument("--eta", type=float, default=1e-3, help="gradient-layer step")
    g.add_argument("--warm-max", type=int, default=6000, help="plain-GAN budget to plateau")
    g.add_argument("--gl-steps", type=int, default=2000, help="steps of every arm")
    g.add_argument("--every", type=int, default=250, help="steps between evaluations")
    g.add_argument("--window", type=int, default=4, help="plateau window (evaluations)")
    g.add_argument("--tol-modes", type=float, default=1.0, help="plateau: modes change")
    g.add_argument("--tol-hq", type=float, default=0.03, help="plateau: high-quality change")
    d = p.add_argument_group("digits")
    d.add_argument("--digit-arms", nargs="+", default=list(DIGIT_ARMS), choices=DIGIT_ARMS,
                   help="arms after the plateau (gan is the baseline; keep it first)")
    d.add_argument("--digits-warm-max", type=int, default=4000)
    d.add_argument("--digits-steps", type=int, default=1500)
    d.add_argument("--digits-every", type=int, default=250)
    d.add_argument("--digits-eta", type=float, default=0.01, help="gradient-layer step on pixels")
    d.add_argument("--tol-kid", type=float, default=0.1, help="plateau: relative KID change")
    d.add_argument("--kid-samples", type=int, default=1000)
    f = p.add_argument_group("flow check")
    f.add_argument("--horizon", type=float, default=12.0, help="flow time eta * T")
    f.add_argument("--d-rate", type=float, default=200.0, help="D updates per unit flow time")
    f.add_argument("--points", type=int, default=1024, help="particles")
    f.add_argument("--marks", type=int, default=9, help="KL estimates along the flow")
    f.add_argument("--refit-steps", type=int, default=1500, help="Adam steps of the refit")
    f.add_argument("--slack", type=float, default=0.02, help="monotone up to this (nats)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
        args.mog_arms, args.digit_arms = ["gan", "distil"], ["gan", "distil"]
        args.warm_max, args.gl_steps, args.every, args.window = 200, 100, 50, 1
        args.digits_warm_max, args.digits_steps, args.digits_every = 100, 50, 50
        args.kid_samples, args.horizon, args.d_rate = 200, 0.2, 20.0
        args.marks, args.refit_steps, args.points = 3, 50, 256
        args.tag = args.tag or "quick"
    return args


def main(argv=None) -> dict:
    """Runs the chosen parts over the seeds, writes the JSON and figures, prints tables."""
    args = parse(argv)
    t0 = time.perf_counter()
    results = {}
    for part, fn in (("grid25", mog_seed), ("digits", digits_seed), ("flow", flow_seed)):
        if part in args.parts:
            results[part] = {str(s): fn(s, args) for s in args.seeds}
    summary = summarise(results, args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / ("gradient_layer_study" + (f"_{args.tag}" if args.tag else ""))
    figures = plot(results, stem, args)
    report = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "device": jax.devices()[0].device_kind, "seconds": round(time.perf_counter() - t0, 1),
              "summary": summary, "figures": figures, "results": results}
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(json.dumps(summary, indent=1))
    return report


if __name__ == "__main__":
    main()
