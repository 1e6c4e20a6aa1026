"""Pipeline configuration: one validated object, identical on both sides (checked at Hello)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

from postproc.errors import ConfigError

RECONCILE_MODES = ("fast", "efficient")


@dataclass(frozen=True)
class PipelineConfig:
    """Security parameters and block structure of a session.

    ``mu``/``p_mu`` are Alice's intensities and their probabilities (signal, decoy, vacuum/weak),
    ``block_slots`` the number of clock slots per block. ``auth_replenish_bytes`` of every block's
    secret key go back into the authentication pads (half per direction) before the rest is stored.
    """

    protocol: str = "lim2014"
    mu: tuple[float, ...] = (0.5, 0.1, 0.0)
    p_mu: tuple[float, ...] = (0.7, 0.2, 0.1)
    eps_sec: float = 1e-10
    eps_cor: float = 1e-15
    qber_max: float = 0.11
    block_slots: int = 100_000_000
    auth_tag_bits: int = 64
    auth_replenish_bytes: int = 1024
    initial_secret_bytes: int = 1 << 16
    timeout_s: float = 300.0
    retransmit_s: float = 2.0  # silence before unacknowledged frames are sent again (doubling)
    max_auth_failures: int = 5  # consecutive blocks lost to authentication errors: stop
    # reconciliation: efficiency the first blind round aims at (None: reconcile's default)
    reconcile_f_start: float | None = None
    # "fast": n32k codes + normalised min-sum (default, ~3-5x the throughput); "efficient":
    # bp32k codes + sum-product, f 1.07-1.14 instead of 1.16-1.35 (README, Error correction)
    reconcile_mode: str = "fast"

    def __post_init__(self) -> None:
        if self.protocol not in ("lim2014", "rusca2018"):
            raise ConfigError(f"protocol must be 'lim2014' or 'rusca2018', got {self.protocol!r}")
        if len(self.mu) != len(self.p_mu) or not 2 <= len(self.mu) <= 3:
            raise ConfigError(
                f"mu and p_mu need 2 or 3 matching entries, got {self.mu}, {self.p_mu}"
            )
        if not math.isclose(sum(self.p_mu), 1.0, abs_tol=1e-9):
            raise ConfigError(f"p_mu must sum to 1, got {self.p_mu}")
        for name in ("eps_sec", "eps_cor"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ConfigError(f"{name} must be in (0, 1), got {v}")
        if not 0.0 < self.qber_max < 0.5:
            raise ConfigError(f"qber_max must be in (0, 0.5), got {self.qber_max}")
        if self.block_slots < 1:
            raise ConfigError(f"block_slots must be >= 1, got {self.block_slots}")
        if self.auth_tag_bits % 8 or not 32 <= self.auth_tag_bits <= 256:
            raise ConfigError("auth_tag_bits must be a multiple of 8 in 32..256")
        if self.reconcile_f_start is not None and not 1.0 <= self.reconcile_f_start <= 3.0:
            raise ConfigError(f"reconcile_f_start must be in [1, 3], got {self.reconcile_f_start}")
        if self.reconcile_mode not in RECONCILE_MODES:
            raise ConfigError(
                f"reconcile_mode must be one of {', '.join(RECONCILE_MODES)}, "
                f"got {self.reconcile_mode!r}"
            )
        if not 0.0 < self.retransmit_s <= self.timeout_s:
            raise ConfigError(f"retransmit_s must be in (0, timeout_s], got {self.retransmit_s}")
        if self.auth_replenish_bytes < 0 or self.auth_replenish_bytes % 2:
            raise ConfigError("auth_replenish_bytes must be even and >= 0")

    def replace(self, **changes: object) -> PipelineConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mu"], d["p_mu"] = list(self.mu), list(self.p_mu)
        return d


def add_reconcile_arguments(parser: argparse.ArgumentParser) -> None:
    """The reconciliation options shared by the commands that run the pipeline."""
    parser.add_argument(
        "--ec-f-start",
        type=float,
        default=None,
        help="reconciliation: efficiency of the first blind round (default: reconcile's)",
    )
    parser.add_argument(
        "--ec-mode",
        choices=RECONCILE_MODES,
        default="fast",
        help="reconciliation: fast = n32k codes + 8-bit min-sum (default); efficient = bp32k "
        "codes + sum-product: smaller f (more key), slower",
    )


def reconcile_options(args: argparse.Namespace) -> dict:
    """PipelineConfig fields from :func:`add_reconcile_arguments`' options."""
    return {"reconcile_f_start": args.ec_f_start, "reconcile_mode": args.ec_mode}
