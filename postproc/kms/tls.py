"""HTTPS with mutual TLS for the KME: uvicorn (h11) plus the ASGI ``tls`` extension.

uvicorn verifies client certificates (``ssl_cert_reqs=CERT_REQUIRED`` against the CA) but does not
hand them to the application. :class:`TLSExtensionH11Protocol` is uvicorn's own h11 protocol with
one addition: when a TLS connection is made it reads the verified peer certificate from the SSL
object and adds it to every request's scope as ``scope["extensions"]["tls"]`` in the layout of the
ASGI TLS extension (``client_cert_chain``, ``client_cert_name``, ...). It is passed to uvicorn
through its documented ``http=`` protocol-class option.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

from postproc.errors import ConfigError


def _tls_info(ssl_object: ssl.SSLObject) -> dict[str, Any]:
    der = ssl_object.getpeercert(binary_form=True)
    chain, name = [], None
    if der:
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


class TLSExtensionH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that exposes the client certificate as the ASGI tls extension."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        tls = _tls_info(ssl_object)
        inner = self.app

        async def app_with_tls(scope: dict, receive: Any, send: Any) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
            await inner(scope, receive, send)

        self.app = app_with_tls


def server_config(
    app: Any,
    *,
    cert: Path,
    key: Path,
    ca: Path,
    host: str = "127.0.0.1",
    port: int = 8443,
    log_level: str = "warning",
) -> uvicorn.Config:
    """uvicorn configuration: TLS >= 1.2 with client certificates required and checked
    against ``ca``."""
    for what, path in (("cert", cert), ("key", key), ("ca", ca)):
        if not Path(path).is_file():
            raise ConfigError(f"kms serve: --{what} {path}: no such file")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ca_certs=str(ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
        http=TLSExtensionH11Protocol,
        lifespan="off",
        log_level=log_level,
        access_log=False,
    )


class BackgroundServer:
    """A uvicorn server on an already-bound loopback socket, in a thread (tests, demos)."""

    def __init__(self, config: uvicorn.Config, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("KME server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
