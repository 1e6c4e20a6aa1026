"""The two-party protocol: message codec, channels, authentication, verification.

* :mod:`~postproc.protocol.codec` serialises the frozen-dataclass messages every stage defines.
* :mod:`~postproc.protocol.channel` moves frames in-process or over TCP.
* :mod:`~postproc.protocol.auth` authenticates every frame (Wegman-Carter, one-time pads).
* :mod:`~postproc.protocol.uhash` holds the universal hash families used by auth and verification.
* :mod:`~postproc.protocol.verify` checks that Alice's and Bob's reconciled blocks agree.
"""
