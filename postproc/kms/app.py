"""ETSI GS QKD 014 V1.1.1 REST API of one KME (FastAPI).

Endpoints (section 5 of the standard):

* ``GET  /api/v1/keys/{slave_SAE_ID}/status``        -> Status
* ``POST /api/v1/keys/{slave_SAE_ID}/enc_keys``      Key request -> Key container
* ``GET  /api/v1/keys/{slave_SAE_ID}/enc_keys?number=&size=``
* ``POST /api/v1/keys/{master_SAE_ID}/dec_keys``     Key IDs -> Key container
* ``GET  /api/v1/keys/{master_SAE_ID}/dec_keys?key_ID=``

Responses are 200 with the standard's JSON body, or 400 (bad request format or parameters),
401 (the calling SAE is not party to these keys) or 503 (server side: not enough key) with the
Error body ``{"message": ..., "details": [...]}``.

One KME serves one link and one SAE pair: the master SAE (attached to the ``master`` KME) takes new
keys with enc_keys; the slave SAE (attached to the ``slave`` KME) takes the same keys by key_ID
with dec_keys. The calling SAE's identity comes from its TLS client certificate, read from the
ASGI ``tls`` extension (``client_cert_chain``): the certificate's subject CN and its DNS/URI
subject alternative names. Key sizes are whole bytes (the store's granularity is 8 bits); any
multiple of 8 between min_key_size and max_key_size is carved from one stored key.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from postproc.errors import ConfigError
from postproc.keystore import InsufficientKeyError, KeyStore, KeyUnavailableError
from postproc.kms.keyids import MAX_SIZE, decode_key_id, encode_key_id

log = logging.getLogger("qkdpp.kms")


@dataclass(frozen=True)
class KmeConfig:
    """What one KME serves. ``role`` says which SAE of the pair is attached to this KME."""

    kme_id: str
    peer_kme_id: str
    master_sae_id: str
    slave_sae_id: str
    role: Literal["master", "slave"]
    key_size: int = 256
    min_key_size: int = 64
    max_key_size: int = 8192
    max_key_per_request: int = 128
    max_key_count: int = 100_000

    def __post_init__(self) -> None:
        if self.role not in ("master", "slave"):
            raise ConfigError(f"kms: role must be 'master' or 'slave', got {self.role!r}")
        for name in ("kme_id", "peer_kme_id", "master_sae_id", "slave_sae_id"):
            if not getattr(self, name):
                raise ConfigError(f"kms: {name} must not be empty")
        if self.master_sae_id == self.slave_sae_id:
            raise ConfigError("kms: master_sae_id and slave_sae_id must differ")
        sizes = (self.min_key_size, self.key_size, self.max_key_size)
        if any(s % 8 for s in sizes) or not 8 <= sizes[0] <= sizes[1] <= sizes[2] <= 8 * MAX_SIZE:
            raise ConfigError(
                "kms: need 8 <= min_key_size <= key_size <= max_key_size, all multiples of 8,"
                f" got {sizes}"
            )
        if self.max_key_per_request < 1 or self.max_key_count < 1:
            raise ConfigError("kms: max_key_per_request and max_key_count must be >= 1")

    @property
    def local_sae_id(self) -> str:
        return self.master_sae_id if self.role == "master" else self.slave_sae_id


class ApiError(Exception):
    """An error answered with the standard's Error body."""

    def __init__(self, status: int, message: str, details: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


def sae_identities(scope: dict) -> set[str]:
    """Subject CN and DNS/URI SANs of the client certificate in the ASGI ``tls`` extension."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    if not chain:
        return set()
    cert = x509.load_pem_x509_certificate(chain[0].encode("ascii"))
    names = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names.update(san.get_values_for_type(x509.DNSName))
        names.update(san.get_values_for_type(x509.UniformResourceIdentifier))
    except x509.ExtensionNotFound:
        pass
    return names


def _int_param(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"{name} must be an integer", [{"parameter": name}])
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer", [{"parameter": name}]) from None


def _key_container(slices: list, key_ids: list[uuid.UUID]) -> dict:
    return {
        "keys": [
            {"key_ID": str(kid), "key": base64.b64encode(s.key).decode("ascii")}
            for s, kid in zip(slices, key_ids, strict=True)
        ]
    }


async def _json_object(request: Request) -> dict:
    body = await request.body()
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def create_app(cfg: KmeConfig, store: KeyStore) -> FastAPI:
    """The KME's ASGI app for one link (its party's key store) and one SAE pair."""
    app = FastAPI(title=f"qkdpp KME {cfg.kme_id}", docs_url=None, redoc_url=None)
    app.state.cfg = cfg
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        log.info("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.message)
        return JSONResponse({"message": exc.message, "details": exc.details}, exc.status)

    def authorize(request: Request, role: str, path_sae: str) -> str:
        """The caller must be the pair's ``role`` SAE, attached to this KME, asking about its
        peer SAE; otherwise 401."""
        caller = sae_identities(request.scope)
        want_caller = cfg.master_sae_id if role == "master" else cfg.slave_sae_id
        want_path = cfg.slave_sae_id if role == "master" else cfg.master_sae_id
        if not caller:
            raise ApiError(401, "no client certificate: SAEs authenticate with mutual TLS")
        if cfg.role != role or want_caller not in caller or path_sae != want_path:
            raise ApiError(
                401,
                f"SAE {sorted(caller)} is not authorized for keys shared with SAE {path_sae!r}"
                f" at KME {cfg.kme_id!r}",
            )
        return want_caller

    def status_body() -> dict:
        count = store.count_available(cfg.key_size // 8)
        return {
            "source_KME_ID": cfg.kme_id if cfg.role == "master" else cfg.peer_kme_id,
            "target_KME_ID": cfg.peer_kme_id if cfg.role == "master" else cfg.kme_id,
            "master_SAE_ID": cfg.master_sae_id,
            "slave_SAE_ID": cfg.slave_sae_id,
            "key_size": cfg.key_size,
            "stored_key_count": min(count, cfg.max_key_count),
            "max_key_count": cfg.max_key_count,
            "max_key_per_request": cfg.max_key_per_request,
            "max_key_size": cfg.max_key_size,
            "min_key_size": cfg.min_key_size,
            "max_SAE_ID_count": 0,
        }

    @app.get("/api/v1/keys/{slave_SAE_ID}/status")
    async def get_status(slave_SAE_ID: str, request: Request) -> dict:
        authorize(request, "master", slave_SAE_ID)
        return await run_in_threadpool(status_body)

    async def deliver_enc(caller: str, number: Any, size: Any) -> dict:
        n = cfg.key_size // 8 if size is None else None
        number = 1 if number is None else _int_param(number, "number")
        if not 1 <= number <= cfg.max_key_per_request:
            raise ApiError(
                400,
                f"number must be between 1 and max_key_per_request={cfg.max_key_per_request}",
                [{"parameter": "number", "value": number}],
            )
        if n is None:
            bits = _int_param(size, "size")
            if bits % 8:
                raise ApiError(
                    400,
                    "size must be a multiple of 8 bits (the key store's granularity)",
                    [{"parameter": "size", "value": bits}],
                )
            if not cfg.min_key_size <= bits <= cfg.max_key_size:
                raise ApiError(
                    400,
                    f"size must be between min_key_size={cfg.min_key_size} and"
                    f" max_key_size={cfg.max_key_size}",
                    [{"parameter": "size", "value": bits}],
                )
            n = bits // 8
        try:
            slices = await run_in_threadpool(store.reserve, number, n, caller)
        except InsufficientKeyError:
            available = await run_in_threadpool(store.count_available, n)
            raise ApiError(
                503,
                "not enough key material for this request",
                [{"requested": number, "size": 8 * n, "available": available}],
            ) from None
        ids = [encode_key_id(s.ref, s.offset, s.size) for s in slices]
        log.info("enc_keys: %d keys of %d bits to SAE %s", number, 8 * n, caller)
        return _key_container(slices, ids)

    @app.post("/api/v1/keys/{slave_SAE_ID}/enc_keys")
    async def post_enc_keys(slave_SAE_ID: str, request: Request) -> dict:
        caller = authorize(request, "master", slave_SAE_ID)
        body = await _json_object(request)
        extra = body.get("additional_slave_SAE_IDs") or []
        if not isinstance(extra, list):
            raise ApiError(400, "additional_slave_SAE_IDs must be an array")
        if extra:
            raise ApiError(
                400,
                "additional slave SAEs are not supported (max_SAE_ID_count is 0)",
                [{"additional_slave_SAE_IDs": extra}],
            )
        mandatory = body.get("extension_mandatory") or []
        if not isinstance(mandatory, list):
            raise ApiError(400, "extension_mandatory must be an array")
        if mandatory:
            raise ApiError(
                400,
                "not all extension_mandatory parameters are supported",
                [{"extension_mandatory": mandatory}],
            )
        optional = body.get("extension_optional") or []
        if not isinstance(optional, list):
            raise ApiError(400, "extension_optional must be an array")
        return await deliver_enc(caller, body.get("number"), body.get("size"))

    @app.get("/api/v1/keys/{slave_SAE_ID}/enc_keys")
    async def get_enc_keys(slave_SAE_ID: str, request: Request) -> dict:
        caller = authorize(request, "master", slave_SAE_ID)
        unknown = set(request.query_params) - {"number", "size"}
        if unknown:
            raise ApiError(
                400, "GET enc_keys takes only number and size", [{"unknown": sorted(unknown)}]
            )
        q = request.query_params
        return await deliver_enc(caller, q.get("number"), q.get("size"))

    async def deliver_dec(caller: str, raw_ids: list[Any]) -> dict:
        if not raw_ids:
            raise ApiError(400, "key_IDs must name at least one key")
        if len(raw_ids) > cfg.max_key_per_request:
            raise ApiError(
                400, f"at most max_key_per_request={cfg.max_key_per_request} key_IDs per request"
            )
        ids, slices = [], []
        for raw in raw_ids:
            try:
                kid = uuid.UUID(str(raw))
                slices.append(decode_key_id(kid))
            except ValueError:
                raise ApiError(
                    400, "key_ID is not a key issued by the peer KME", [{"key_ID": str(raw)}]
                ) from None
            ids.append(kid)
        if len(set(ids)) != len(ids):
            raise ApiError(400, "a key_ID appears more than once in the request")
        try:
            got = await run_in_threadpool(store.claim_many, slices, caller)
        except KeyUnavailableError:
            # which one failed is told without naming the key store's internals
            raise ApiError(
                400,
                "one or more key_IDs are unknown or were already delivered",
                [{"key_IDs": [str(k) for k in ids]}],
            ) from None
        log.info("dec_keys: %d keys to SAE %s", len(got), caller)
        return _key_container(got, ids)

    @app.post("/api/v1/keys/{master_SAE_ID}/dec_keys")
    async def post_dec_keys(master_SAE_ID: str, request: Request) -> dict:
        caller = authorize(request, "slave", master_SAE_ID)
        body = await _json_object(request)
        entries = body.get("key_IDs")
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("key_ID"), str) for e in entries
        ):
            raise ApiError(400, 'key_IDs must be an array of {"key_ID": "<UUID>"} objects')
        return await deliver_dec(caller, [e["key_ID"] for e in entries])

    @app.get("/api/v1/keys/{master_SAE_ID}/dec_keys")
    async def get_dec_keys(master_SAE_ID: str, request: Request) -> dict:
        caller = authorize(request, "slave", master_SAE_ID)
        q = request.query_params
        if set(q) != {"key_ID"} or len(q.getlist("key_ID")) != 1:
            raise ApiError(400, "GET dec_keys takes exactly one key_ID parameter")
        return await deliver_dec(caller, [q["key_ID"]])

    return app
