"""``qkdpp kms serve|make-certs|status``: the ETSI GS QKD 014 key delivery service."""

from __future__ import annotations

import argparse
import json

from postproc.errors import ConfigError


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from postproc.keystore import KeyStore
    from postproc.kms import KmeConfig, create_app
    from postproc.kms.tls import server_config

    cfg = KmeConfig(
        kme_id=args.kme_id,
        peer_kme_id=args.peer_kme_id,
        master_sae_id=args.master_sae,
        slave_sae_id=args.slave_sae,
        role=args.role,
        key_size=args.key_size,
        min_key_size=args.min_key_size,
        max_key_size=args.max_key_size,
        max_key_per_request=args.max_key_per_request,
        max_key_count=args.max_key_count,
    )
    with KeyStore(args.store) as store:
        config = server_config(
            create_app(cfg, store),
            cert=args.cert,
            key=args.key,
            ca=args.ca,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
        print(
            f"KME {cfg.kme_id} ({cfg.role} side of {cfg.master_sae_id} -> {cfg.slave_sae_id})"
            f" on https://{args.host}:{args.port}, store {args.store}",
            flush=True,
        )
        uvicorn.Server(config).run()
    return 0


def _make_certs(args: argparse.Namespace) -> int:
    from postproc.kms.certs import make_certs

    paths = make_certs(args.out, args.kme, args.sae, days=args.days)
    for name, path in paths.items():
        print(f"{name}: {path}" + ("" if name == "ca" else f" (key {path.with_suffix('.key')})"))
    return 0


def _status(args: argparse.Namespace) -> int:
    from postproc.keystore import KeyStore

    if args.size % 8:
        raise ConfigError(f"kms status: --size must be a multiple of 8, got {args.size}")
    with KeyStore(args.store) as store:
        summary = {
            "store": str(args.store),
            "keys": len(store),
            "stored_bits": store.stored_bits(),
            "available_keys_of_size": store.count_available(args.size // 8),
            "size": args.size,
        }
    print(json.dumps(summary, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("kms", help="ETSI GS QKD 014 key delivery (KME) over a key store")
    kms = p.add_subparsers(dest="kms_command", required=True, metavar="ACTION")

    s = kms.add_parser("serve", help="run one KME over HTTPS with mutual TLS")
    s.add_argument("--store", required=True, help="this party's key store (SQLite file)")
    s.add_argument("--role", required=True, choices=["master", "slave"])
    s.add_argument("--kme-id", required=True, help="this KME's ID")
    s.add_argument("--peer-kme-id", required=True, help="the other KME's ID")
    s.add_argument("--master-sae", required=True, help="master SAE ID (certificate CN or SAN)")
    s.add_argument("--slave-sae", required=True, help="slave SAE ID (certificate CN or SAN)")
    s.add_argument("--cert", required=True, help="server certificate (PEM)")
    s.add_argument("--key", required=True, help="server private key (PEM)")
    s.add_argument("--ca", required=True, help="CA that signs the SAE client certificates")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8443)
    s.add_argument("--key-size", type=int, default=256, help="default key size in bits")
    s.add_argument("--min-key-size", type=int, default=64)
    s.add_argument("--max-key-size", type=int, default=8192)
    s.add_argument("--max-key-per-request", type=int, default=128)
    s.add_argument("--max-key-count", type=int, default=100_000)
    s.add_argument("--log-level", default="warning")
    s.set_defaults(func=_serve)

    c = kms.add_parser("make-certs", help="create a local test CA and certificates")
    c.add_argument("out", help="output directory")
    c.add_argument("--kme", action="append", default=[], help="a KME name (server certificate)")
    c.add_argument("--sae", action="append", default=[], help="an SAE name (client certificate)")
    c.add_argument("--days", type=int, default=30)
    c.set_defaults(func=_make_certs)

    t = kms.add_parser("status", help="key counts of a key store (no key material)")
    t.add_argument("--store", required=True)
    t.add_argument("--size", type=int, default=256, help="key size in bits to count")
    t.set_defaults(func=_status)
