"""`qkdpp process` and `qkdpp alice`/`bob` on a short simulated recording, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("postproc.sift.bb84")
pytest.importorskip("postproc.reconcile.blind")

from postproc.cli import main
from postproc.pipeline.session import DEMO_MU, DEMO_P_MU, DEMO_P_Z
from postproc.sim import SimConfig, simulate_to_recording

BLOCK = 10_000_000


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a short, bright link (5 km, no extra loss) so that 10 ms blocks carry enough counts
    cfg = SimConfig(
        intensities=DEMO_MU,
        intensity_probs=DEMO_P_MU,
        p_z=DEMO_P_Z,
        distance_km=5.0,
        extra_loss_db=0.0,
        seed=3,
    )
    path, _ = simulate_to_recording(cfg, 0.02, tmp_path_factory.mktemp("rec") / "rec")
    return path


def test_process_recording(recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "process",
            "--recording",
            str(recording),
            "--out",
            str(out),
            "--json",
            "--block-slots",
            str(BLOCK),
            "--seed",
            "4",
        ]
    )
    s = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in (
        "blocks",
        "secret_bits",
        "qber_z",
        "qber_x",
        "f_ec",
        "aborted_blocks",
        "keys_identical",
        "realtime_factor",
    ):
        assert key in s
    assert len(s["blocks"]) == 2 and s["keys_identical"] is True and s["secret_bits"] > 0
    assert 0.005 < s["qber_z"] < 0.03
    assert (out / "report.png").stat().st_size > 1000
    assert (out / "alice_keys.sqlite").stat().st_mode & 0o777 == 0o600
    b = s["blocks"][0]
    for key in (
        "detections",
        "n_Z",
        "n_X",
        "qber_z",
        "bounds",
        "lambda_ec",
        "f_ec",
        "verified",
        "key_length",
        "timings",
    ):
        assert key in b


@pytest.mark.slow
def test_alice_and_bob_processes_over_tcp(recording: Path, tmp_path: Path) -> None:
    secret = tmp_path / "auth.key"
    secret.write_bytes(os.urandom(1 << 16))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    common = [
        "--recording",
        str(recording),
        "--auth-secret",
        str(secret),
        "--block-slots",
        str(BLOCK),
        "--json",
        "--timeout",
        "120",
    ]
    port = 47000 + os.getpid() % 1000
    bob = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "postproc",
            "bob",
            "--listen",
            f"127.0.0.1:{port}",
            "--store",
            str(tmp_path / "bob.sqlite"),
            *common,
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    alice = subprocess.run(
        [
            sys.executable,
            "-m",
            "postproc",
            "alice",
            "--connect",
            f"127.0.0.1:{port}",
            "--store",
            str(tmp_path / "alice.sqlite"),
            *common,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    b_out, _ = bob.communicate(timeout=600)
    a, b = json.loads(alice.stdout), json.loads(b_out)
    assert alice.returncode == 0 and bob.returncode == 0
    assert a["secret_bits"] == b["secret_bits"] > 0
