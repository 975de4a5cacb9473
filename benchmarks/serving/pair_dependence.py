"""What the sandbox's sign test on turn pairs costs when the pairs of one round are not
independent: a simulation with the verdict's own bounds (mlrail.serving.sandbox.intervals)
and the default policy's looks (8, 16, 24 rounds of 8 pairs), against a cluster-aware
alternative (a sign-flip test over whole rounds, exact, conditional on each round's sign
sum).

Pair log-ratios are drawn as a round effect (normal, sd ``tau``, shared by the round's
pairs) plus each pair's own noise (normal, sd ``sigma``). The defaults are what
benchmarks/serving/run.py --quick measured between two copies of one model on a loaded
2-core machine, per-turn medians (benchmarks/RESULTS.md, issue 18).

    .venv/bin/python benchmarks/serving/pair_dependence.py            # 1,000 draws per case

The last line printed is one JSON object with every rate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "include"))

from mlrail.serving.sandbox.intervals import median_bounds  # noqa: E402
from mlrail.serving.sandbox.verdict import bound_alpha  # noqa: E402
from mlrail.spec.sandbox import SandboxSpec  # noqa: E402

# name: (round-effect sd, pair sd) of the log pair ratio, measured (see the docstring)
CASES = {
    "concurrency 1, p50": (0.032, 0.164),
    "concurrency 1, p50, slowed copy's rounds": (0.073, 0.224),
    "concurrency 8, p50": (0.24, 0.295),
    "concurrency 8, throughput": (0.224, 0.285),
}
PAIRS_PER_ROUND, LOOKS = 8, (8, 16, 24)
LIMIT = 1.2


def tail(weights: list[int], t: int) -> float:
    """P(sum of e_r * w_r >= t) for independent fair signs e_r."""
    total = sum(weights)
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    for w in weights:
        if w:
            shifted = np.zeros_like(dist)
            shifted[w:] = dist[:-w]
            dist = (dist + shifted) / 2
    need = math.ceil((t + total) / 2 - 1e-9)
    return float(dist[max(need, 0) :].sum())


def cluster_low(rounds: np.ndarray, alpha: float) -> float:
    """The largest value below which every median is rejected by the rounds' sign-flip
    test at ``alpha``."""
    order = sorted((v, r) for r, row in enumerate(rounds) for v in row)
    sums = [len(row) for row in rounds]
    low = 0.0
    for value, r in order:
        if tail([abs(s) for s in sums], sum(sums)) > alpha:
            break
        low = value
        sums[r] -= 2
    return low


def judge(x: np.ndarray, alpha: float, clustered: bool) -> str:
    for n in LOOKS:
        if clustered:
            low, high = cluster_low(x[:n], alpha), 1 / max(cluster_low(1 / x[:n], alpha), 1e-300)
        else:
            bounds = median_bounds(x[:n].ravel().tolist(), alpha)
            low, high = bounds.low, bounds.high
        if low > LIMIT:
            return "failed"
        if high <= LIMIT:
            return "passed"
    return "inconclusive"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    rng = np.random.default_rng(18)
    alpha = bound_alpha(vars(SandboxSpec()))
    out = {"alpha_per_bound": alpha, "draws": args.draws, "limit": LIMIT, "cases": {}}
    for name, (tau, sigma) in CASES.items():
        for true in (1.0, 1.2, 1.3):
            for clustered in (False, True):
                states = []
                for _ in range(args.draws):
                    effect = rng.normal(0, tau, LOOKS[-1])[:, None]
                    noise = rng.normal(0, sigma, (LOOKS[-1], PAIRS_PER_ROUND))
                    states.append(judge(np.exp(math.log(true) + effect + noise), alpha, clustered))
                key = f"{name}; true ratio {true}; {'rounds' if clustered else 'pairs'}"
                out["cases"][key] = {s: states.count(s) / args.draws for s in set(states)}
                print(key, out["cases"][key], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
