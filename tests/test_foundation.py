"""Tests of the shared foundation: bit order, entropy, ledger, errors, CLI wiring."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from postproc.bits import pack_bits, unpack_bits
from postproc.cli import main
from postproc.errors import FormatError
from postproc.infotheory import binary_entropy
from postproc.ledger import LeakageLedger


def test_bit_order_is_little_endian():
    # bit i is bit i % 8 of byte i // 8
    bits = np.zeros(16, dtype=np.uint8)
    bits[0] = 1
    bits[9] = 1
    assert pack_bits(bits).tolist() == [0x01, 0x02]


@given(st.lists(st.integers(0, 1), max_size=200))
def test_pack_unpack_round_trip(bits):
    arr = np.array(bits, dtype=np.uint8)
    assert unpack_bits(pack_bits(arr), len(bits)).tolist() == bits
    assert unpack_bits(bytes(pack_bits(arr)), len(bits)).tolist() == bits


def test_unpack_too_many_bits():
    with pytest.raises(ValueError, match="9 bits from 1 bytes"):
        unpack_bits(b"\x00", 9)


def test_binary_entropy_known_values():
    assert binary_entropy(0.0) == 0.0
    assert binary_entropy(1.0) == 0.0
    assert binary_entropy(0.5) == pytest.approx(1.0)
    # h(0.11) = 0.49992...: the Shannon limit at 11 % QBER is close to rate 1/2
    assert binary_entropy(0.11) == pytest.approx(0.4999157, abs=1e-6)
    assert binary_entropy(np.array([0.0, 0.5])).tolist() == [0.0, 1.0]


def test_ledger_totals_and_rejects_negative():
    ledger = LeakageLedger()
    ledger.add("syndrome", 100)
    ledger.add("syndrome", 20)
    ledger.add("verification", 64)
    assert ledger.total == 184
    assert ledger.as_dict() == {"syndrome": 120, "verification": 64, "total": 184}
    with pytest.raises(ValueError, match="revealed"):
        ledger.add("revealed", -1)


def test_format_error_names_source_offset_field():
    err = FormatError("bad magic", source="x.ptu", offset=0, field="Magic")
    assert str(err) == "x.ptu, offset 0, field 'Magic': bad magic"


def test_cli_unknown_bench_is_clear_error(capsys):
    assert main(["bench", "no-such-bench"]) == 2
    assert "no benchmark 'no-such-bench'" in capsys.readouterr().err


def test_bench_shared_flags_work_after_the_name(monkeypatch, capsys):
    from postproc.commands import bench

    seen = {}

    def fake_run_one(name, extra, quick, as_json):
        seen.update(name=name, extra=extra, quick=quick, json=as_json)
        return {}

    monkeypatch.setattr(bench, "run_one", fake_run_one)
    assert main(["bench", "read", "--json", "--size-mb", "3", "--quick"]) == 0
    assert seen == {"name": "read", "extra": ["--size-mb", "3"], "quick": True, "json": True}
