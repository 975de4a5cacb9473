"""The sandbox's turn pairs, for benchmarks/serving/run.py: the slowed copy's calibration
measured as the sandbox measures (turns of TURN requests, A B B A, one ratio per pair of
turns), and the comparisons' pairs judged offline on other per-turn statistics, to show
which one tells a copy of the model from a slower one best on this machine."""

from __future__ import annotations

import math
import statistics

# Per-turn statistics whose pair ratios the benchmark records and judges offline; each is
# a list in validate's level summary, turn by turn, aligned across the two models.
STATISTICS = {
    "p50": "turn_p50_ms",
    "p90": "turn_p90_ms",
    "trimmed_mean": "turn_trimmed_mean_ms",  # 20 % cut at each end
    "throughput": "turn_throughput_rps",
}


def quantile_ratio(urls: dict[str, str], bodies: list[bytes], rounds: int, q: float) -> float:
    """The median over turn pairs of the ``q`` latency of ``urls['a']`` over that of
    ``urls['b']`` at concurrency 1, in rounds of 400 requests taken as the sandbox takes
    them (replay.one_round)."""
    from mlrail.serving.sandbox.replay import Client, one_round

    clients = {role: Client(url) for role, url in urls.items()}
    ratios = []
    for r in range(rounds):
        got = one_round(clients, bodies, 1, 400, r)
        ratios += [
            a.percentile(q) / b.percentile(q)
            for a, b in zip(got["a"].turns, got["b"].turns, strict=True)
            if a.latencies_ms and b.latencies_ms
        ]
    return statistics.median(ratios)


def pair_ratios(measured: dict, figure: str) -> dict[int, list[float]]:
    """Per level, the candidate / blessed ratio of a per-turn ``figure``, pair by pair."""
    models = measured["models"]
    out = {}
    for level, stats in models["candidate"]["levels"].items():
        theirs = models["blessed"]["levels"][level][figure]
        out[level] = [
            round(a / b, 4)
            for a, b in zip(stats[figure], theirs, strict=True)
            if a and b and math.isfinite(a) and math.isfinite(b)
        ]
    return out


def outcome(states: dict[str, str]) -> str:
    """Failed if any check failed, else inconclusive if any is, else passed."""
    values = set(states.values())
    return next(s for s in ("failed", "inconclusive", "passed") if s in values or s == "passed")


def offline_outcome(measured: dict, policy, statistic: str) -> str:
    """The comparison's outcome had the policy judged ``statistic`` (a key of STATISTICS)
    of each turn for latency, on the same pairs, looking after each batch of
    ``policy.rounds`` rounds as the validation does."""
    from mlrail.serving.sandbox.replay import TURN
    from mlrail.serving.sandbox.verdict import LATENCY, THROUGHPUT, level_states

    per_look = policy.rounds * math.ceil(policy.requests_per_round / TURN)
    rules = vars(policy)
    states = {}
    for kind, name in ((LATENCY, statistic), (THROUGHPUT, "throughput")):
        for level, ratios in pair_ratios(measured, STATISTICS[name]).items():
            state = "inconclusive"
            for n in range(per_look, len(ratios) + 1, per_look):
                judged = level_states({level: ratios[:n]}, kind, rules).get(level)
                if judged and judged[1] != "inconclusive":
                    state = judged[1]
                    break
            states[f"{kind.check}@{level}"] = state
    return outcome(states)


def separation(verdicts: dict[str, list[dict]]) -> dict[str, dict]:
    """Per statistic and level, over every comparison: the spread of the model's pair
    log-ratios against itself (interquartile range; smaller tells a given slowdown apart
    sooner) and the slowed copy's median pair ratio."""
    out: dict[str, dict] = {}
    for name in STATISTICS:
        out[name] = {}
        for kind, runs in verdicts.items():
            pooled: dict[int, list[float]] = {}
            for run in runs:
                for level, ratios in run["pair_ratios"][name].items():
                    pooled.setdefault(level, []).extend(r for r in ratios if r > 0)
            for level, ratios in pooled.items():
                logs = sorted(math.log(r) for r in ratios)
                if len(logs) < 4:
                    continue
                q1, _, q3 = statistics.quantiles(logs, n=4)
                out[name].setdefault(kind, {})[str(level)] = {
                    "pairs": len(logs),
                    "median_ratio": round(math.exp(statistics.median(logs)), 4),
                    "iqr_log_ratio": round(q3 - q1, 4),
                }
    return out


def intervals_missing_one(runs: list[dict]) -> dict[str, int]:
    """For the model against itself, whose true ratio is 1: how many of its final
    intervals (per comparison, check and level) leave 1 out. Each bound is one-sided at
    1 - alpha', so with independent pairs at most 2 alpha' of them should; many more would
    show that the pairs of one round are not independent enough for the sign test."""
    missing = total = 0
    for run in runs:
        for levels in run["levels"].values():
            for level in levels.values():
                total += 1
                missing += level["low"] > 1.0 or level["high"] < 1.0
    return {"missing": missing, "intervals": total}
