"""Speed of REP-GAN's chains against their lower bound: one batched G + D forward and
backward pass (issue 10, "Speed").

Workload: programs/gan_mog.py's generator and discriminator (ring of 8: latent 8, two
hidden layers of 64; freshly initialised, which has the same FLOPs as trained ones).

* Side A, ``rep_gan``: ``gd.samplers.rep_gan(steps=S)`` (the paper's tau = 0.01,
  eta = 0.1, which runs blackjax's MALA kernel) compiled against the target and called
  on C chains: one jitted call; its time divided by S is the time per chain step.
* Side A', ``rep_gan_hand``: the same with eta = 0.12 (eta^2 != tau), the hand-written
  kernel; reported beside, not a goal.
* Side B, ``fwd_bwd``: one jitted call computing ``d(G(z))`` and its gradient with
  respect to ``z`` for a batch of C latents, with the same modules: the work a
  Langevin step cannot avoid (it needs the gradient at its proposal).

A REP-GAN step needs ``d(G(z'))`` and ``grad log pi(z')`` at the proposal ``z'`` (the
reverse proposal mean ``mu(z')``); the current state's value and gradient are carried
from the step that accepted it (blackjax's ``MALAState.logdensity_grad``, and the carry
of the hand-written kernel), so a step is one forward and backward pass plus the
proposal noise, the uniform draw and the accept/reject select. The goal: time per chain
step <= 1.5x side B.

The sides are interleaved (A B A' per round, for ``--rounds`` rounds) on the shared
machine; the ratio is the median over rounds of the per-round ratio, with its
interquartile range and the load average. It also checks that C chains x S steps run as
one dispatch: the sampler's call is one ``jax.jit`` function whose jaxpr holds one
``scan`` of length S, a repeated call compiles nothing (counted with
``jax.monitoring``'s backend-compile events) and its jit cache holds one executable.

Prints the table and writes benchmarks/results/sampling.json.

    python benchmarks/sampling.py [--chains 10000] [--steps 640] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

import gendsl as gd
from gendsl import samplers as S
from gendsl.run import build_experiment, load_program_file, program_config

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5
"""Time per chain step / time of one batched G + D forward and backward pass."""


def networks(data: str):
    """The gan_mog generator and discriminator (freshly initialised) and its target."""
    module = load_program_file(ROOT / "programs" / "gan_mog.py")
    cfg = program_config(module, [f"data={data}"])
    exp = build_experiment(module, cfg)
    compiled = gd.compile(exp.program)
    state = compiled.init(jax.random.key(0), exp.source.batch(0))
    G, D = compiled.module(state, "G"), compiled.module(state, "D")
    return G, D, S.target_of(compiled, state), cfg.latent


def forward_backward(G, D):
    """``z -> (d(G(z)), grad_z sum d(G(z)))`` for a batch, jitted (side B)."""
    g_def, g_state = nnx.split(G)
    d_def, d_state = nnx.split(D)

    def value_and_grad(states, z):
        def total(z):
            logits = nnx.merge(d_def, states[1])(nnx.merge(g_def, states[0])(z))[:, 0]
            return jnp.sum(logits), logits
        (_, logits), grad = jax.value_and_grad(total, has_aux=True)(z)
        return logits, grad

    fn = jax.jit(value_and_grad)
    return lambda z: fn((g_state, d_state), z)


class CompileCounter:
    """Counts XLA backend compilations (``jax.monitoring`` duration events)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if event == self.EVENT:
            self.count += 1


def dispatch_check(sampler, chains: int, steps: int, counter: CompileCounter) -> dict:
    """Checks that ``sampler(key, chains)`` is one jitted call holding one scan of
    ``steps`` steps that compiles once."""
    jaxpr = jax.make_jaxpr(sampler._run_fn, static_argnums=2)(sampler.target,
                                                              jax.random.key(0), chains)
    scans = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan"]
    scan_lengths = sorted({e.params["length"] for e in scans})
    before = counter.count
    jax.block_until_ready(sampler(jax.random.key(1), chains).samples)
    first = counter.count - before
    before = counter.count
    jax.block_until_ready(sampler(jax.random.key(2), chains).samples)
    second = counter.count - before
    return {"top_level_scans": len(scans), "scan_lengths": scan_lengths,
            "compiles_first_call": first, "compiles_second_call": second,
            "jit_cache_size": sampler._run._cache_size(),
            "one_dispatch": bool(len(scans) == 1 and scan_lengths == [steps] and second == 0
                                 and sampler._run._cache_size() == 1)}


def measure(chains: int, steps: int, rounds: int, data: str, b_calls: int) -> dict:
    """Times the sides interleaved; returns times, ratios and the dispatch check."""
    counter = CompileCounter()
    G, D, target, latent = networks(data)
    fb = forward_backward(G, D)
    z = jax.random.normal(jax.random.key(3), (chains, latent))
    jax.block_until_ready(fb(z))
    samplers = {"rep_gan": S.compile_sampler(S.rep_gan(steps=steps), target),
                "rep_gan_hand": S.compile_sampler(S.rep_gan(steps=steps, eta=0.12), target)}
    check = dispatch_check(samplers["rep_gan"], chains, steps, counter)
    jax.block_until_ready(samplers["rep_gan_hand"](jax.random.key(0), chains).samples)
    per_step = {"rep_gan": [], "rep_gan_hand": [], "fwd_bwd": []}
    load = []
    for r in range(rounds):
        for name, sampler in samplers.items():
            t0 = time.perf_counter()
            out = sampler(jax.random.key(100 + r), chains)
            jax.block_until_ready((out.samples, out.trace))
            per_step[name].append((time.perf_counter() - t0) / steps)
            if name == "rep_gan":       # B right after A: the pair shares the load
                t0 = time.perf_counter()
                for _ in range(b_calls):
                    jax.block_until_ready(fb(z))
                per_step["fwd_bwd"].append((time.perf_counter() - t0) / b_calls)
        load.append(os.getloadavg()[0])
    ratios = {name: [a / b for a, b in zip(per_step[name], per_step["fwd_bwd"])]
              for name in samplers}

    def summary(values):
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        return {"median": statistics.median(values), "iqr": [q[0], q[2]]}

    return {"chains": chains, "steps": steps, "rounds": rounds, "data": data,
            "latent": latent, "fwd_bwd_calls_per_round": b_calls,
            "ms_per_step_of_all_chains": {k: summary([1e3 * t for t in v]) for k, v in per_step.items()},
            "ratio_to_fwd_bwd": {k: summary(v) for k, v in ratios.items()},
            "dispatch": check,
            "load_average": {"min": min(load), "median": statistics.median(load),
                             "max": max(load)}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=int, default=10_000, help="chains C (default 10000)")
    parser.add_argument("--steps", type=int, default=640, help="REP-GAN steps S (default 640)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--fwd-bwd-calls", type=int, default=20,
                        help="side-B calls per round, averaged (default 20)")
    parser.add_argument("--data", default="ring8", choices=["ring8", "grid25"],
                        help="gan_mog's data, which sets its widths (default ring8: 64, 64)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sampling.json"))
    args = parser.parse_args(argv)
    r = measure(args.chains, args.steps, args.rounds, args.data, args.fwd_bwd_calls)
    print(f"REP-GAN, gan_mog ({args.data}) G and D, {r['chains']} chains x {r['steps']} steps, "
          f"{r['rounds']} interleaved rounds, {jax.devices()[0].platform}, "
          f"{platform.processor() or platform.machine()}, load {r['load_average']['median']:.2f}"
          f" ({r['load_average']['min']:.1f}-{r['load_average']['max']:.1f})")
    print(f"(ms per step: one step of all {r['chains']} chains; B: one pass on {r['chains']} latents)")
    print(f"{'side':<14}{'ms per step':>16}{'ratio to fwd_bwd (IQR)':>28}{'goal':>8}")
    for name, t in r["ms_per_step_of_all_chains"].items():
        ratio = r["ratio_to_fwd_bwd"].get(name)
        text = (f"{ratio['median']:.3f} ({ratio['iqr'][0]:.2f}-{ratio['iqr'][1]:.2f})"
                if ratio else "1 (lower bound)")
        goal = f"<={GOAL}" if name == "rep_gan" else ""
        print(f"{name:<14}{t['median']:>16.3f}{text:>28}{goal:>8}")
    d = r["dispatch"]
    print(f"one dispatch: {d['one_dispatch']} ({d['top_level_scans']} top-level scan of "
          f"length {d['scan_lengths']}; {d['compiles_first_call']} compile(s) on the first "
          f"call, {d['compiles_second_call']} on the second; jit cache {d['jit_cache_size']})")
    out = {"workload": f"gan_mog ({args.data}) REP-GAN chains", "device": str(jax.devices()[0]),
           "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "goal": {"ratio_rep_gan_to_fwd_bwd": GOAL}, "meets_goal":
               r["ratio_to_fwd_bwd"]["rep_gan"]["median"] <= GOAL, **r}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
