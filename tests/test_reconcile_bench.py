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
                    "mbps_machine_blind", "iters_blind", "speedup_per_iter"):
            assert key in r
        # the whole exchange includes round one: at least as many iterations
        assert r["iters_blind"] >= r["iters1"] and r["ldpc_iters"] >= 1
        assert r["f"] > 1.0 and 0.0 <= r["fer"] <= 1.0 and r["rounds"] >= 1.0
        assert r["cascade_f"] > 1.0
    assert "QBER%" in mod.format_text(res)
    assert mod.format_text(dict(res, as_json=True)).lstrip().startswith("{")
