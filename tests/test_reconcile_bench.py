"""The reconcile benchmark runs end to end on the small code family and reports its fields."""

import argparse

import pytest

from postproc.commands.bench import load
from postproc.reconcile.family import get_code


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("QKDPP_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    get_code.cache_clear()


def test_bench_reconcile_small_family():
    mod = load("reconcile")
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    args = p.parse_args(["--family", "hw", "--qber", "3", "8", "--frames", "12",
                         "--ldpc-frames", "3", "--cascade-frames", "1"])
    args.quick = True
    res = mod.run(args)
    rows = res["rows"]
    assert [r["qber"] for r in rows] == [0.03, 0.08]
    for r in rows:
        for key in ("qber", "f", "fer", "rounds", "mbps_per_core", "ldpc_mbps", "ldpc_fer",
                    "cascade_f", "cascade_round_trips", "mbps_per_core_blind",
                    "mbps_machine_blind", "iters_blind", "speedup_per_iter",
                    "mbps_per_core_decoder"):
            assert key in r
        # the whole exchange includes round one: at least as many iterations
        assert r["iters_blind"] >= r["iters1"] and r["ldpc_iters"] >= 1
        assert r["f"] > 1.0 and 0.0 <= r["fer"] <= 1.0 and r["rounds"] >= 1.0
        assert r["cascade_f"] > 1.0
    assert "QBER%" in mod.format_text(res)
    assert mod.format_text(dict(res, as_json=True)).lstrip().startswith("{")


def test_bench_reconcile_fast_decoder_reports_the_float_baseline():
    mod = load("reconcile")
    p = argparse.ArgumentParser()
    mod.add_arguments(p)
    args = p.parse_args(["--family", "hw", "--decoder", "fast", "--qber", "5", "--frames", "12",
                         "--ldpc-frames", "2", "--cascade-frames", "1"])
    res = mod.run(args)
    (r,) = res["rows"]
    for key in ("f_float", "fer_float", "iters_blind_float", "mbps_per_core_blind_float",
                "speedup_blind_vs_float", "ns_edge_float", "speedup_edge_vs_float",
                "ns_edge_decode", "fer_upper95"):
        assert key in r
    assert r["f"] > 1.0 and r["f_float"] > 1.0 and r["speedup_blind_vs_float"] > 0
    assert r["fer_upper95"] >= r["fer"]
    assert "float: f" in mod.format_text(res)


def test_fer_upper_bound_is_clopper_pearson():
    mod = load("reconcile")
    # 0 of N: 1 - 0.05**(1/N) (about 3/N)
    assert abs(mod.fer_upper95(0, 1000) - (1 - 0.05 ** (1 / 1000))) < 1e-12
    assert 2.9e-3 < mod.fer_upper95(0, 1000) < 3.0e-3
    # k of N: the p with P(X <= k | N, p) = 0.05, by bisection on the binomial sum
    from math import comb

    def upper(k, n):
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            cdf = sum(comb(n, i) * mid**i * (1 - mid) ** (n - i) for i in range(k + 1))
            lo, hi = (mid, hi) if cdf > 0.05 else (lo, mid)
        return lo

    for k, n in ((1, 10), (3, 200), (0, 7)):
        assert abs(mod.fer_upper95(k, n) - upper(k, n)) < 1e-6
    assert mod.fer_upper95(5, 5) == 1.0


def test_decode_cpu_counts_the_decoder_calls_only(monkeypatch):
    # Bob's decode_cpu (the bench's mbps_per_core_decoder) is the CPU time inside his decoder
    # calls: a decoder made slower by a known CPU burn shows it, work outside does not
    import time

    import numpy as np

    from postproc.reconcile import blind

    cfg = blind.ReconcileConfig(family="hw", decoder="fast")
    lay = blind.choose_layout(0.05, cfg)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, (6, lay.n_key), dtype=np.uint8)
    b = a ^ (rng.random(a.shape) < 0.05).astype(np.uint8)
    ra, rb, *_ = blind.reconcile_local(a, b, 0.05, np.random.default_rng(0), cfg, lay)
    assert ra.decode_cpu == 0.0 and rb.decode_cpu > 0.0
    calls = []
    orig = blind._decode

    def slow(state, which):
        t0 = time.process_time()
        while time.process_time() - t0 < 0.05:
            pass
        calls.append(1)
        orig(state, which)

    def burn_outside(state):
        t0 = time.process_time()
        while time.process_time() - t0 < 0.2:
            pass
        return reply(state)

    reply = blind._reply
    monkeypatch.setattr(blind, "_decode", slow)
    monkeypatch.setattr(blind, "_reply", burn_outside)
    _, rb2, *_ = blind.reconcile_local(a, b, 0.05, np.random.default_rng(0), cfg, lay)
    assert len(calls) == rb2.rounds.max()
    assert 0.05 * len(calls) <= rb2.decode_cpu < 0.05 * len(calls) + rb.decode_cpu + 0.15
