"""`qkdpp simulate` and `qkdpp sift` end to end through the CLI."""

import json

from postproc.cli import main
from postproc.recording import open_recording


def test_simulate_then_sift_json(tmp_path, capsys):
    out = tmp_path / "rec"
    rc = main(
        [
            "simulate",
            "--out",
            str(out),
            "--seconds",
            "0.01",
            "--distance-km",
            "10",
            "--seed",
            "3",
            "--offset-ps",
            "654321000",
            "--json",
        ]
    )
    assert rc == 0
    sim = json.loads(capsys.readouterr().out)
    rec = open_recording(out)
    assert rec.n_slots == 10_000_000 == sim["n_slots"]
    assert rec.meta["simulator"]["distance_km"] == 10
    assert rec.n_events == sim["n_events"]
    assert main(["sift", "--recording", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["offset_slots"] == -654321
    assert abs(res["offset_ps"] - 654321000) < 100
    assert abs(res["period_ps"] - 1000) < 1e-3
    assert res["gated"] + res["outside_gate"] == res["detections"]
    assert 0.005 < res["qber"]["Z"] < 0.03
    assert res["sifted"]["Z"]["class0"] > res["sifted"]["Z"]["class1"] > 0
    assert main(["sift", "--recording", str(out)]) == 0
    text = capsys.readouterr().out
    assert "QBER" in text and "offset" in text


def test_sift_reports_corrupt_recording(tmp_path, capsys):
    out = tmp_path / "rec"
    main(["simulate", "--out", str(out), "--seconds", "0.001", "--json"])
    capsys.readouterr()
    f = out / "bob_ch.i16"
    f.write_bytes(f.read_bytes()[:-2])
    assert main(["sift", "--recording", str(out)]) == 2
    assert "bob_ch.i16" in capsys.readouterr().err
