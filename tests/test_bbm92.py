"""BBM92: pair simulator statistics, delay search and coincidence sifting."""

import math

import numpy as np
import pytest

from postproc.recording import open_recording
from postproc.sift.bbm92 import CoincidenceOptions, coincidences, sift_bbm92_recording
from postproc.sim.bbm92 import PairConfig, expected_coincidences, simulate_pairs_to_recording


@pytest.mark.parametrize("delay_ps", [-999_999_000, 345_678])
def test_bbm92_delay_coincidences_and_qber(tmp_path, delay_ps):
    cfg = PairConfig(
        delay_ps=delay_ps,
        pair_rate_hz=4e6,
        dark_count_hz=2e4,
        misalignment=0.03,
        seed=abs(delay_ps) % 97,
        dead_time_ns=0.0,
    )
    seconds = 0.2
    simulate_pairs_to_recording(cfg, seconds, tmp_path)
    res = sift_bbm92_recording(open_recording(tmp_path), CoincidenceOptions(window_ps=400))
    assert abs(res.delay_ps - delay_ps) <= 10
    th = expected_coincidences(cfg, seconds, 400)
    n = res.coincidences
    assert abs(n - th["true"] - th["accidental"]) < 5 * math.sqrt(th["true"]) + 5
    assert abs(res.accidentals_estimate - th["accidental"]) < 5 * math.sqrt(th["accidental"]) + 5
    sifted = int(res.n.sum())
    assert abs(sifted - th["sifted"]) < 5 * math.sqrt(th["sifted"])
    q = th["qber"]
    errors = int(res.m.sum())
    assert abs(errors - sifted * q) < 5 * math.sqrt(sifted * q * (1 - q))
    # both parties' sifted lists line up: same length and basis per position
    assert len(res.bits_a) == len(res.bits_b) == len(res.basis) == sifted


def test_coincidences_use_each_click_once():
    ta = np.array([0, 1000, 1010, 5000], np.int64)
    ca = np.array([1, 1, 2, 3], np.int16)
    tb = np.array([500, 1505, 5500, 9000], np.int64)
    cb = np.array([5, 6, 7, 5], np.int16)
    detmap = {
        1: (0, 0),
        2: (0, 1),
        3: (1, 0),
        4: (1, 1),
        5: (0, 0),
        6: (0, 1),
        7: (1, 0),
        8: (1, 1),
    }
    res = coincidences(ta, ca, tb, cb, detmap, CoincidenceOptions(window_ps=100), delay_ps=500)
    # 0->500, 1000 or 1010 -> 1505 (nearest: 1010), 5000->5500; 9000 unmatched
    assert res.coincidences == 3
    assert res.multi_clicks == 1  # 1000 and 1010 on two of Alice's detectors within the window
    assert res.n.tolist() == [2, 1]
