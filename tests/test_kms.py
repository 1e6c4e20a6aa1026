"""ETSI GS QKD 014 KME: contract tests per endpoint and error, and an end-to-end mTLS run."""

import base64
import itertools
import json
import logging
import os
import stat
import threading
import uuid
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from postproc.cli import main
from postproc.errors import ConfigError
from postproc.keystore import KeyStore
from postproc.kms import KmeConfig, create_app
from postproc.kms.certs import make_certs
from postproc.kms.keyids import decode_key_id, encode_key_id
from postproc.kms.tls import BackgroundServer, server_config

META = {"eps_sec": 1e-10, "eps_cor": 1e-15, "qber": 0.02, "leak_bits": 100}
STATUS_FIELDS = {
    "source_KME_ID": str,
    "target_KME_ID": str,
    "master_SAE_ID": str,
    "slave_SAE_ID": str,
    "key_size": int,
    "stored_key_count": int,
    "max_key_count": int,
    "max_key_per_request": int,
    "max_key_size": int,
    "min_key_size": int,
    "max_SAE_ID_count": int,
}
MASTER, SLAVE = "sae-alice", "sae-bob"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    make_certs(d, ["kme-a", "kme-b"], [MASTER, SLAVE, "sae-eve"])
    return d


def _fill_pair(tmp: Path, n_keys: int = 4, n_bytes: int = 1000) -> tuple[KeyStore, KeyStore]:
    a, b = KeyStore(tmp / "alice.db"), KeyStore(tmp / "bob.db")
    for i in range(n_keys):
        kid, key = uuid.uuid4(), os.urandom(n_bytes)
        for store in (a, b):
            store.add(kid, i, key, 8 * n_bytes, **META)
    return a, b


def _cfg(role: str, **kw) -> KmeConfig:
    ids = ("kme-a", "kme-b") if role == "master" else ("kme-b", "kme-a")
    return KmeConfig(*ids, MASTER, SLAVE, role, **kw)


class _AsSae:
    """ASGI wrapper that presents a client certificate the way the TLS server does."""

    def __init__(self, app, certs: Path) -> None:
        self.app, self.certs, self.sae = app, certs, None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.sae:
            pem = (self.certs / f"{self.sae}.pem").read_text()
            scope["extensions"] = {"tls": {"client_cert_chain": [pem]}}
        await self.app(scope, receive, send)


@pytest.fixture
def kmes(tmp_path, certs):
    a, b = _fill_pair(tmp_path)
    wa = _AsSae(create_app(_cfg("master", max_key_count=50), a), certs)
    wb = _AsSae(create_app(_cfg("slave"), b), certs)
    ca, cb = TestClient(wa), TestClient(wb)

    def as_sae(client_wrapper, name):
        client_wrapper.sae = name

    yield {"a": ca, "b": cb, "wa": wa, "wb": wb, "as": as_sae, "store_a": a, "store_b": b}
    a.close()
    b.close()


def _is_error(r, code):
    assert r.status_code == code, r.text
    body = r.json()
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body.get("details", []), list)
    return body


def _check_container(body: dict, n: int, size_bits: int) -> list[tuple[str, bytes]]:
    assert set(body) == {"keys"} and len(body["keys"]) == n
    out = []
    for k in body["keys"]:
        assert set(k) == {"key_ID", "key"}
        uuid.UUID(k["key_ID"])
        raw = base64.b64decode(k["key"], validate=True)
        assert len(raw) * 8 == size_bits
        out.append((k["key_ID"], raw))
    return out


def test_status_contract(kmes):
    kmes["as"](kmes["wa"], MASTER)
    r = kmes["a"].get(f"/api/v1/keys/{SLAVE}/status")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == set(STATUS_FIELDS)
    for name, typ in STATUS_FIELDS.items():
        assert isinstance(body[name], typ), name
    assert body["source_KME_ID"] == "kme-a" and body["target_KME_ID"] == "kme-b"
    assert (body["master_SAE_ID"], body["slave_SAE_ID"]) == (MASTER, SLAVE)
    # 4 keys x 1000 bytes hold 124 keys of 256 bits: capped at max_key_count
    assert body["stored_key_count"] == body["max_key_count"] == 50
    assert body["min_key_size"] <= body["key_size"] <= body["max_key_size"]


def test_enc_keys_post_get_and_dec_keys_same_bytes(kmes):
    kmes["as"](kmes["wa"], MASTER)
    kmes["as"](kmes["wb"], SLAVE)
    got = _check_container(kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json={}).json(), 1, 256)
    r = kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json={"number": 3, "size": 1024})
    got += _check_container(r.json(), 3, 1024)
    r = kmes["a"].get(f"/api/v1/keys/{SLAVE}/enc_keys", params={"number": 2, "size": 64})
    got += _check_container(r.json(), 2, 64)
    r = kmes["a"].post(
        f"/api/v1/keys/{SLAVE}/enc_keys", json={"extension_optional": [{"x": 1}], "number": 1}
    )
    got += _check_container(r.json(), 1, 256)
    assert len({k for k, _ in got}) == len(got)
    # slave side: POST for the first four, GET for the rest; same bytes
    body = {"key_IDs": [{"key_ID": k} for k, _ in got[:4]]}
    r = kmes["b"].post(f"/api/v1/keys/{MASTER}/dec_keys", json=body)
    assert r.status_code == 200
    sizes = [len(v) * 8 for _, v in got]
    assert _pairs(r.json()) == got[:4]
    for (k, v), bits in zip(got[4:], sizes[4:], strict=True):
        r = kmes["b"].get(f"/api/v1/keys/{MASTER}/dec_keys", params={"key_ID": k})
        assert _check_container(r.json(), 1, bits) == [(k, v)]
    # delivered once on each side
    _is_error(kmes["b"].get(f"/api/v1/keys/{MASTER}/dec_keys", params={"key_ID": got[0][0]}), 400)


def _pairs(body):
    return [(k["key_ID"], base64.b64decode(k["key"])) for k in body["keys"]]


@pytest.mark.parametrize(
    "body,fragment",
    [
        ({"size": 100}, "multiple of 8"),
        ({"size": 8}, "min_key_size"),
        ({"size": 8200}, "max_key_size"),
        ({"number": 0}, "number"),
        ({"number": 129}, "max_key_per_request"),
        ({"number": "many"}, "integer"),
        ({"number": True}, "integer"),
        ({"additional_slave_SAE_IDs": ["sae-carol"]}, "max_SAE_ID_count"),
        ({"extension_mandatory": [{"abc_route_type": "direct"}]}, "extension_mandatory"),
    ],
)
def test_enc_keys_bad_requests_400(kmes, body, fragment):
    kmes["as"](kmes["wa"], MASTER)
    before = kmes["store_a"].stored_bits()
    err = _is_error(kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json=body), 400)
    assert fragment in err["message"]
    assert kmes["store_a"].stored_bits() == before  # nothing consumed


def test_enc_keys_get_rejects_other_parameters_and_bad_json(kmes):
    kmes["as"](kmes["wa"], MASTER)
    url = f"/api/v1/keys/{SLAVE}/enc_keys"
    assert (
        "only number and size" in _is_error(kmes["a"].get(url, params={"foo": 1}), 400)["message"]
    )
    _is_error(kmes["a"].get(url, params={"size": 12}), 400)
    _is_error(kmes["a"].post(url, content=b"{not json"), 400)
    _is_error(kmes["a"].post(url, content=b"[1, 2]"), 400)


def test_enc_keys_503_when_store_runs_out(kmes):
    kmes["as"](kmes["wa"], MASTER)
    url = f"/api/v1/keys/{SLAVE}/enc_keys"
    # 4 keys x 1000 bytes: an 8192-bit (1024-byte) key never fits in one stored key
    err = _is_error(kmes["a"].post(url, json={"size": 8192}), 503)
    assert err["details"][0]["available"] == 0
    r = kmes["a"].post(url, json={"number": 120, "size": 256})
    assert r.status_code == 200
    err = _is_error(kmes["a"].post(url, json={"number": 5, "size": 256}), 503)
    assert err["details"][0] == {"requested": 5, "size": 256, "available": 4}


def test_dec_keys_bad_requests_400(kmes):
    kmes["as"](kmes["wb"], SLAVE)
    url = f"/api/v1/keys/{MASTER}/dec_keys"
    _is_error(kmes["b"].post(url, json={"key_IDs": []}), 400)
    _is_error(kmes["b"].post(url, json={"key_IDs": ["not-an-object"]}), 400)
    _is_error(kmes["b"].post(url, json={}), 400)
    v4 = str(uuid.uuid4())
    assert (
        "not a key issued"
        in _is_error(kmes["b"].post(url, json={"key_IDs": [{"key_ID": v4}]}), 400)["message"]
    )
    unknown = str(encode_key_id(12345, 0, 32))
    _is_error(kmes["b"].get(url, params={"key_ID": unknown}), 400)
    _is_error(kmes["b"].get(url, params=[("key_ID", unknown), ("key_ID", unknown)]), 400)
    _is_error(kmes["b"].get(url), 400)


def test_dec_keys_all_or_nothing(kmes):
    kmes["as"](kmes["wa"], MASTER)
    kmes["as"](kmes["wb"], SLAVE)
    r = kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json={"number": 2})
    master_keys = _pairs(r.json())
    good = [k for k, _ in master_keys]
    bad = str(encode_key_id(999, 0, 32))
    url = f"/api/v1/keys/{MASTER}/dec_keys"
    _is_error(kmes["b"].post(url, json={"key_IDs": [{"key_ID": good[0]}, {"key_ID": bad}]}), 400)
    # the failed request consumed nothing: both keys are still delivered, with the same bytes
    r = kmes["b"].post(url, json={"key_IDs": [{"key_ID": k} for k in good]})
    assert r.status_code == 200 and _pairs(r.json()) == master_keys


@pytest.mark.parametrize(
    "side,caller,method,path",
    [
        ("a", "sae-eve", "get", f"/api/v1/keys/{SLAVE}/status"),
        ("a", "sae-eve", "post", f"/api/v1/keys/{SLAVE}/enc_keys"),
        ("a", MASTER, "post", "/api/v1/keys/sae-eve/enc_keys"),
        ("a", SLAVE, "post", f"/api/v1/keys/{SLAVE}/enc_keys"),
        ("a", MASTER, "post", f"/api/v1/keys/{SLAVE}/dec_keys"),
        ("b", MASTER, "post", f"/api/v1/keys/{SLAVE}/enc_keys"),
        ("b", "sae-eve", "post", f"/api/v1/keys/{MASTER}/dec_keys"),
        ("b", SLAVE, "post", "/api/v1/keys/sae-eve/dec_keys"),
        ("b", SLAVE, "get", f"/api/v1/keys/{MASTER}/status"),
        ("a", None, "get", f"/api/v1/keys/{SLAVE}/status"),
    ],
)
def test_unauthorized_401(kmes, side, caller, method, path):
    kmes["as"](kmes["w" + side], caller)
    client = kmes[side]
    r = client.get(path) if method == "get" else client.post(path, json={"key_IDs": []})
    _is_error(r, 401)


def test_key_material_never_logged(kmes, caplog):
    kmes["as"](kmes["wa"], MASTER)
    with caplog.at_level(logging.DEBUG):
        r = kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json={"number": 2})
        kmes["a"].post(f"/api/v1/keys/{SLAVE}/enc_keys", json={"size": 7})
    text = caplog.text
    assert "enc_keys: 2 keys of 256 bits" in text
    for k in r.json()["keys"]:
        assert k["key"] not in text and base64.b64decode(k["key"]).hex() not in text


@settings(deadline=None)
@given(st.integers(0, 2**60 - 1), st.integers(0, 2**36 - 1), st.integers(1, 2**26 - 1))
def test_key_id_round_trip(ref, offset, size):
    kid = encode_key_id(ref, offset, size)
    assert kid.version == 8 and kid.variant == uuid.RFC_4122
    assert decode_key_id(uuid.UUID(str(kid))) == (ref, offset, size)


def test_key_id_rejects_foreign_uuids():
    with pytest.raises(ValueError, match="not a key_ID"):
        decode_key_id(uuid.uuid4())
    with pytest.raises(ValueError):
        encode_key_id(1, 0, 0)


def test_config_validation():
    with pytest.raises(ConfigError, match="role"):
        KmeConfig("a", "b", "m", "s", "both")
    with pytest.raises(ConfigError, match="multiples of 8"):
        KmeConfig("a", "b", "m", "s", "master", key_size=100)
    with pytest.raises(ConfigError, match="differ"):
        KmeConfig("a", "b", "m", "m", "master")


def test_cli_make_certs_and_status(tmp_path, capsys):
    assert (
        main(["kms", "make-certs", str(tmp_path / "pki"), "--kme", "kme-1", "--sae", "sae-1"]) == 0
    )
    for name in ("ca", "kme-1", "sae-1"):
        assert (tmp_path / "pki" / f"{name}.pem").read_text().startswith("-----BEGIN CERT")
        mode = stat.S_IMODE(os.stat(tmp_path / "pki" / f"{name}.key").st_mode)
        assert mode == 0o600
    from postproc.kms.app import sae_identities

    pem = (tmp_path / "pki" / "sae-1.pem").read_text()
    assert sae_identities({"extensions": {"tls": {"client_cert_chain": [pem]}}}) == {"sae-1"}
    pem = (tmp_path / "pki" / "kme-1.pem").read_text()
    assert sae_identities({"extensions": {"tls": {"client_cert_chain": [pem]}}}) == {
        "kme-1",
        "localhost",
    }
    assert sae_identities({}) == set()
    a, b = _fill_pair(tmp_path, 2, 100)
    a.close()
    b.close()
    capsys.readouterr()
    assert main(["kms", "status", "--store", str(tmp_path / "alice.db"), "--size", "256"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["keys"] == 2 and summary["available_keys_of_size"] == 6
    assert main(["kms", "status", "--store", str(tmp_path / "alice.db"), "--size", "7"]) == 2


def test_end_to_end_two_kmes_mutual_tls(tmp_path, certs):
    """Two KMEs on loopback with mTLS; master fetches enc_keys, slave dec_keys; concurrency."""
    a, b = _fill_pair(tmp_path, n_keys=6, n_bytes=2048)
    ca = certs / "ca.pem"

    def server(cfg, store, name):
        app = create_app(cfg, store)
        return BackgroundServer(
            server_config(app, cert=certs / f"{name}.pem", key=certs / f"{name}.key", ca=ca)
        )

    def session(sae):
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        s.cert = (str(certs / f"{sae}.pem"), str(certs / f"{sae}.key"))
        s.verify = str(ca)
        return s

    with server(_cfg("master"), a, "kme-a") as ka, server(_cfg("slave"), b, "kme-b") as kb:
        url_a, url_b = f"https://127.0.0.1:{ka.port}", f"https://localhost:{kb.port}"
        alice, bob, eve = session(MASTER), session(SLAVE), session("sae-eve")
        status = alice.get(f"{url_a}/api/v1/keys/{SLAVE}/status").json()
        assert status["stored_key_count"] == 6 * 2048 // 32

        delivered: list[dict] = []
        lock = threading.Lock()

        def master_client():
            s = session(MASTER)
            for _ in range(4):
                r = s.post(f"{url_a}/api/v1/keys/{SLAVE}/enc_keys", json={"number": 5})
                assert r.status_code == 200
                with lock:
                    delivered.extend(r.json()["keys"])

        threads = [threading.Thread(target=master_client) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(delivered) == 120
        ids = [k["key_ID"] for k in delivered]
        assert len(set(ids)) == 120
        slices = sorted(decode_key_id(uuid.UUID(k)) for k in ids)
        for (r1, o1, s1), (r2, o2, _) in itertools.pairwise(slices):
            assert r1 != r2 or o1 + s1 <= o2  # no two keys share a byte
        # the slave fetches them in batches, in parallel, and gets the same bytes
        got: dict[str, str] = {}

        def slave_client(batch):
            s = session(SLAVE)
            r = s.post(
                f"{url_b}/api/v1/keys/{MASTER}/dec_keys",
                json={"key_IDs": [{"key_ID": k} for k in batch]},
            )
            assert r.status_code == 200
            with lock:
                got.update((k["key_ID"], k["key"]) for k in r.json()["keys"])

        threads = [threading.Thread(target=slave_client, args=(ids[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == {k["key_ID"]: k["key"] for k in delivered}
        # once only, on both sides; outsiders and certificate-less clients are refused
        r = bob.get(f"{url_b}/api/v1/keys/{MASTER}/dec_keys", params={"key_ID": ids[0]})
        assert r.status_code == 400
        assert eve.get(f"{url_a}/api/v1/keys/{SLAVE}/status").status_code == 401
        r = eve.post(f"{url_b}/api/v1/keys/{MASTER}/dec_keys", json={"key_IDs": []})
        assert r.status_code == 401
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"{url_a}/api/v1/keys/{SLAVE}/status", verify=str(ca), timeout=10)
        after = alice.get(f"{url_a}/api/v1/keys/{SLAVE}/status").json()
        assert after["stored_key_count"] == status["stored_key_count"] - 120
    a.close()
    b.close()


@pytest.mark.slow
def test_pipeline_filled_stores_served_by_both_kmes(tmp_path, certs):
    """`qkdpp demo` fills Alice's and Bob's stores; their KMEs deliver the same bytes (~1 min)."""
    session = pytest.importorskip("postproc.pipeline.session")
    summary = session.demo(0.1, tmp_path, as_json=True)
    assert summary["keys_identical"] and summary["secret_bits"] > 0
    a = KeyStore(tmp_path / "alice_keys.sqlite")
    b = KeyStore(tmp_path / "bob_keys.sqlite")
    assert a.key_ids() == b.key_ids() and a.stored_bits() > 0
    ca = certs / "ca.pem"

    def server(cfg, store, name):
        app = create_app(cfg, store)
        return BackgroundServer(
            server_config(app, cert=certs / f"{name}.pem", key=certs / f"{name}.key", ca=ca)
        )

    def session_for(sae):
        s = requests.Session()
        s.trust_env = False
        s.cert = (str(certs / f"{sae}.pem"), str(certs / f"{sae}.key"))
        s.verify = str(ca)
        return s

    with server(_cfg("master"), a, "kme-a") as ka, server(_cfg("slave"), b, "kme-b") as kb:
        n = min(100, a.count_available(32))
        r = session_for(MASTER).post(
            f"https://127.0.0.1:{ka.port}/api/v1/keys/{SLAVE}/enc_keys", json={"number": n}
        )
        assert r.status_code == 200
        keys = r.json()["keys"]
        r2 = session_for(SLAVE).post(
            f"https://localhost:{kb.port}/api/v1/keys/{MASTER}/dec_keys",
            json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]},
        )
        assert r2.status_code == 200 and r2.json()["keys"] == keys
    a.close()
    b.close()
