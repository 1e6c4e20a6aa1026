"""`qkdpp bench pa` runs end to end on a small block and its fast path equals the rfft baseline."""

import argparse

from postproc.commands.bench import load


def test_bench_pa_small_block_matches_baseline():
    bench_pa = load("pa")
    parser = argparse.ArgumentParser()
    bench_pa.add_arguments(parser)
    args = parser.parse_args(["--sizes", "300001", "--repeat", "2"])
    args.quick = True
    result = bench_pa.run(args)
    (row,) = result["rows"]
    assert row["n_bits"] == 300001 and row["l_bits"] == 150000
    assert row["outputs_equal"] is True
    assert len(row["fast_s_all"]) == 2
    lo, hi = row["fast_mbit_s_range"]
    assert 0 < lo <= hi
    assert "300001" in bench_pa.format_text(result)
