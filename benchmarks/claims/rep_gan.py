"""REP-GAN (Wang et al., 2021): latent MH with REP-GAN's proposal accepts far more often
than MH-GAN's, with samples at least as good, at equal discriminator evaluations.

Calls benchmarks/sampling_study.py (its per-seed claim test: REP-GAN's acceptance at
least twice MH-GAN's and its quality within the noise of MH-GAN's). Quick: grid-25 and
digits, one seed, 500 chains of 160 steps (the trained GANs are cached under
runs/sampling_study). Full: the study's defaults (3 settings, seeds 0-2, 2,000 chains of
640 steps; about 6 minutes on 2 idle cores). ``recorded()`` reads the committed
benchmarks/results/sampling_study.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import sampling_study  # noqa: E402

NAME = "rep_gan"
TITLE = "REP-GAN (Wang et al., ECML-PKDD 2021, arXiv 2107.00352)"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "sampling_study.json"
LABELS = {"grid25": "grid of 25 (gan_mog)", "ring8": "ring of 8 (gan_mog)",
          "digits": "8x8 digits (gan_digits)"}


def _verdict(k: int, n: int) -> str:
    return "reproduced" if n and k == n else ("partly" if 2 * k >= n and k else "not")


def _span(values) -> str:
    lo, hi = f"{min(values):.1f}", f"{max(values):.1f}"
    return lo if lo == hi else f"{lo}-{hi}"


def claims_from(results: dict, figure: str) -> list[dict]:
    """One claim per setting of a sampling-study results dict."""
    claims = []
    for setting, s in results["settings"].items():
        t, n = s["table"], len(s["per_seed"])
        k = s["seeds_supporting_claim"]
        rep, mh, plain = t["REP-GAN"], t["MH-GAN"], t["plain G"]
        quality = "kid" if setting == "digits" else "high_quality_fraction"
        ratio = [p["claim"]["acceptance_ratio"] for p in s["per_seed"]]
        number = (f"acceptance {rep['acceptance_rate']['mean']:.3f} vs MH-GAN "
                  f"{mh['acceptance_rate']['mean']:.3f} ({_span(ratio)}x); "
                  f"{quality.replace('_', ' ')} {rep[quality]['mean']:.3g} vs "
                  f"{mh[quality]['mean']:.3g} (plain G {plain[quality]['mean']:.3g})")
        why = (f"acceptance >= 2x MH-GAN's and quality within noise in {k} of {n} seeds")
        if setting == "digits":
            why += "; but every discriminator-driven sampler's KID is far worse than plain G's"
        else:
            why += "; MH-GAN already accepts most proposals, no sampler's quality differs beyond noise"
        claims.append({
            "claim": f"{LABELS.get(setting, setting)}: REP-GAN accepts far more often than "
                     "MH-GAN with samples at least as good",
            "experiment": f"{s['program']} stopped at {s['train_steps']} steps, "
                          f"{results['chains']} chains x {results['steps']} D evaluations "
                          "(benchmarks/sampling_study.py)",
            "number": number, "verdict": _verdict(k, n), "why": why, "figure": figure,
            "seeds": f"{k} of {n}"})
    return claims


def _finish(results: dict, figures: Path) -> dict:
    path = Path(figures) / f"{NAME}_sampling.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    sampling_study.plot(results, path)
    return {"claims": claims_from(results, f"docs/figures/{path.name}"),
            "raw": {k: {"table": v["table"], "seeds_supporting_claim": v["seeds_supporting_claim"]}
                    for k, v in results["settings"].items()}}


def run(quick: bool, figures: Path) -> dict:
    """Runs the sampling study at the quick or full budget (module docstring)."""
    if quick:
        with tempfile.TemporaryDirectory() as tmp:
            results = sampling_study.main(["--settings", "grid25", "digits", "--seeds", "0",
                                           "--steps", "160", "--chains", "500",
                                           "--out", str(Path(tmp) / "study.json")])
    else:
        results = sampling_study.main([])
    return _finish(results, figures)


def recorded(figures: Path) -> dict:
    """The claims from the committed study results (no training)."""
    return _finish(json.loads(RESULTS.read_text()), figures)
