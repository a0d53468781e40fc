#!/usr/bin/env python3
"""Independent reference for control-api's experiment statistics (stdlib only).

Reads JSON on stdin:
  {"srm": [{"shares": [..], "counts": [..]}, ...],
   "cs":  [{"a": ARM, "b": ARM, "alpha": .., "tau": ..}, ...]}
  ARM = {"kind": "bernoulli", "events": k, "n": n} | {"kind": "real", "n": n, "mean": m, "var": s2}
Writes JSON on stdout:
  {"srm": [{"chi2": .., "df": .., "p": ..}], "cs": [null | {"estimate", "lower", "upper",
   "fixed_lower", "fixed_upper"}]}

Deliberately computed differently from the Rust code: the chi-squared tail uses the closed
forms for integer degrees of freedom (finite Poisson sums; erfc for odd df) instead of the
incomplete-gamma series/continued fraction, and the normal quantile is Python's
statistics.NormalDist (Wichura's AS241) instead of Acklam + Halley.
"""
import json
import math
import sys
from statistics import NormalDist

MIN_SAMPLES = 30


def chi2_sf(x, k):
    """P(X >= x) for X ~ chi2(k), integer k >= 1."""
    if math.isinf(x):
        return 0.0
    y = x / 2.0
    if k % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, k // 2):
            term *= y / i
            total += term
        return math.exp(-y) * total
    total = math.erfc(math.sqrt(y))
    for j in range(0, (k - 1) // 2):
        a = j + 1.5
        total += math.exp(-y + (a - 1.0) * math.log(y) - math.lgamma(a)) if y > 0 else 0.0
    return total


def srm(case):
    parts = [(s if s > 0 else 0.0, c) for s, c in zip(case["shares"], case["counts"]) if s > 0 or c > 0]
    total_share = sum(s for s, _ in parts)
    n = sum(c for _, c in parts)
    df = len(parts) - 1
    if df < 1 or n == 0 or total_share <= 0:
        return {"chi2": 0.0, "df": max(df, 0), "p": 1.0}
    chi2 = 0.0
    for s, c in parts:
        e = n * s / total_share
        chi2 += (c - e) ** 2 / e if e > 0 else (math.inf if c > 0 else 0.0)
    return {"chi2": chi2, "df": df, "p": chi2_sf(chi2, df)}


def arm(spec):
    n = spec["n"]
    if spec["kind"] == "bernoulli":
        mean = spec["events"] / n
        p = min(max(mean, 0.5 / n), 1.0 - 0.5 / n)
        return n, mean, p * (1.0 - p)
    floor = (0.5 / n) * (1.0 - 0.5 / n)
    return n, spec["mean"], max(spec["var"], floor)


def conservative(a, b, sa, sb):
    """Each arm's variance becomes max(own, pooled): pooled rate for two Bernoulli arms,
    (n-1)-weighted within-arm variance for two real arms."""
    (na, ma, va), (nb, mb, vb) = a, b
    if sa["kind"] == "bernoulli" and sb["kind"] == "bernoulli":
        n = na + nb
        p = (sa["events"] + sb["events"]) / n
        p = min(max(p, 0.5 / n), 1.0 - 0.5 / n)
        pooled = p * (1.0 - p)
    elif sa["kind"] == "real" and sb["kind"] == "real":
        pooled = (va * (na - 1) + vb * (nb - 1)) / (na + nb - 2)
    else:
        return a, b
    return (na, ma, max(va, pooled)), (nb, mb, max(vb, pooled))


def cs(case):
    (na, ma, va), (nb, mb, vb) = conservative(arm(case["a"]), arm(case["b"]), case["a"], case["b"])
    if na < MIN_SAMPLES or nb < MIN_SAMPLES:
        return None
    alpha, tau = case["alpha"], case["tau"]
    v = va / na + vb / nb
    theta = mb - ma
    # Normal-mixture mSPRT boundary (Johari, Pekelis & Walsh 2017):
    # reject theta0 when sqrt(V/(V+t2)) * exp(t2 (theta-theta0)^2 / (2 V (V+t2))) >= 1/alpha.
    t2 = tau * tau
    half = math.sqrt((2.0 * math.log(1.0 / alpha) + math.log((v + t2) / v)) * v * (v + t2) / t2)
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return {
        "estimate": theta,
        "lower": theta - half,
        "upper": theta + half,
        "fixed_lower": theta - z * math.sqrt(v),
        "fixed_upper": theta + z * math.sqrt(v),
    }


def main():
    data = json.load(sys.stdin)
    out = {"srm": [srm(c) for c in data.get("srm", [])], "cs": [cs(c) for c in data.get("cs", [])]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
