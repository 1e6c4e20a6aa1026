"""Key delivery: an ETSI GS QKD 014 V1.1.1 key management entity (KME) over the key store.

* :mod:`postproc.kms.keyids`: how a delivered key's UUID names its slice of a stored key.
* :mod:`postproc.kms.app`: the REST API (FastAPI) with the standard's JSON bodies and codes.
* :mod:`postproc.kms.tls`: HTTPS with mutual TLS (uvicorn) and the SAE identity of a client.
* :mod:`postproc.kms.certs`: a local test CA and certificates.
"""

from postproc.kms.app import KmeConfig, create_app

__all__ = ["KmeConfig", "create_app"]
