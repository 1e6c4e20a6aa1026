"""``qkdpp finite-key`` and ``qkdpp plan`` end to end through the CLI entry point."""

from __future__ import annotations

import json

import pytest

from postproc.cli import main

# KlenM README point (see tests/test_estimate.py): lambda_EC as KlenM computes it.
KLENM_INPUT = {
    "protocol": "lim2014",
    "mu": [0.42828493543064783, 0.1763327971746601, 0.0],
    "p_mu": [0.13805048701606418, 0.5128432449702514, 0.34910626801368447],
    "n_Z": [151364.96028285456, 234131.49939591257, 3015.115436715349],
    "m_Z": [5551.846118676228, 9794.802770865846, 1507.557718363551],
    "n_X": [24580.52558505403, 38021.18601566588, 489.631959705723],
    "m_X": [901.577850708569, 1590.6019442010688, 244.81597985381578],
    "eps_sec": 1e-10,
    "eps_cor": 1e-15,
    "lambda_EC": 113756.29654240712,
}


def write(tmp_path, data, name="in.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_finite_key_json_output(tmp_path, capsys):
    assert main(["finite-key", write(tmp_path, KLENM_INPUT), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key_length"] == 41368 and isinstance(out["key_length"], int)
    assert out["abort_reason"] is None
    for key in ("s_Z0", "s_Z1", "v_X1", "phi_Z", "n_Z_minus", "n_Z_plus", "gamma"):
        assert key in out


def test_finite_key_text_output(tmp_path, capsys):
    assert main(["finite-key", write(tmp_path, KLENM_INPUT)]) == 0
    out = capsys.readouterr().out
    assert "41368 bits" in out and "phi_Z" in out and "s_Z1" in out


def test_finite_key_rusca_and_abort(tmp_path, capsys):
    data = {"protocol": "rusca2018", "mu": [0.5, 0.15], "p_mu": [0.8, 0.2],
            "n_Z": [400000, 30000], "m_Z": [8000, 700], "n_X": [40000, 3000], "m_X": [800, 80],
            "eps_sec": 1e-9, "eps_cor": 1e-12, "lambda_EC": 20000, "qber_max": 0.01}
    assert main(["finite-key", write(tmp_path, data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key_length"] == 0 and "QBER" in out["abort_reason"]
    assert out["s_Z0_upper"] > 0


def test_finite_key_sampling_phase_bound_option(tmp_path, capsys):
    zero_x_errors = {**KLENM_INPUT, "m_X": [0.0, 0.0, 0.0]}
    assert main(["finite-key", write(tmp_path, zero_x_errors), "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    strict_input = {**zero_x_errors, "sampling_phase_bound": True}
    assert main(["finite-key", write(tmp_path, strict_input), "--json"]) == 0
    strict = json.loads(capsys.readouterr().out)
    assert default["phi_Z"] == 0.0 and strict["phi_Z"] == default["phi_Z_sampling"] > 0.0
    assert strict["key_length"] < default["key_length"]
    assert strict["conventions"]["sampling_phase_bound"] is True


@pytest.mark.parametrize("data,needle", [
    ({**KLENM_INPUT, "sampling_phase_bound": 1}, "sampling_phase_bound"),
    ({**KLENM_INPUT, "m_X": [901.5, 1590.6, 600.0]}, "m_X[2]"),
    ({**KLENM_INPUT, "mu": [0.1, 0.2, 0.0]}, "mu"),
    ({k: v for k, v in KLENM_INPUT.items() if k != "eps_cor"}, "eps_cor"),
    ({**KLENM_INPUT, "extra": 1}, "extra"),
    ("{not json", "invalid JSON"),
])
def test_finite_key_bad_input_exit_2_names_field(tmp_path, capsys, data, needle):
    path = write(tmp_path, data)
    assert main(["finite-key", path]) == 2
    err = capsys.readouterr().err
    assert needle in err and "in.json" in err


def test_plan_json(capsys):
    assert main(["plan", "--distance-km", "50", "--block-size", "1e9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["key_length"] > 0 and out["protocol"] == "lim2014"
    mu1, mu2, mu3 = out["mu"]
    assert mu1 > mu2 + mu3 and mu2 > mu3 == 0.0
    assert abs(sum(out["p_mu"]) - 1) < 1e-12 and 0 < out["p_Z"] < 1
    assert out["finite_key"]["key_length"] == out["key_length"]


def test_plan_text_one_decoy(capsys):
    assert main(["plan", "--distance-km", "20", "--protocol", "rusca2018"]) == 0
    out = capsys.readouterr().out
    assert "protocol: rusca2018" in out and "secret key rate" in out


def test_plan_rejects_bad_link(capsys):
    assert main(["plan", "--distance-km", "10", "--detector-efficiency", "1.5"]) == 2
    assert "detector_efficiency" in capsys.readouterr().err
