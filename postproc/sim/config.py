"""Configuration of a simulated prepare-and-measure link (decoy BB84), validated on creation."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from postproc.errors import ConfigError

# Detector channel map shared by both receiver kinds: channel -> (basis, bit). With the active
# (2-detector) receiver the acquisition tags each detection with Bob's modulator basis, so the
# channel is 1 + 2 * basis + detector and physical detector = bit.
DETECTOR_MAP = (
    {"channel": 1, "basis": 0, "bit": 0},
    {"channel": 2, "basis": 0, "bit": 1},
    {"channel": 3, "basis": 1, "bit": 0},
    {"channel": 4, "basis": 1, "bit": 1},
)
CLOCK_CHANNEL = 0


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated BB84 run; with the seed the run is reproducible.

    Units: rates in Hz, times in ps (dead time in ns), losses in dB, lengths in km, drift in ppm.
    """

    clock_rate_hz: float = 1e9
    intensities: tuple[float, float, float] = (0.5, 0.1, 0.0)  # mu1 signal, mu2 decoy, mu3
    intensity_probs: tuple[float, float, float] = (0.7, 0.2, 0.1)  # (p, 1-p, 0) is one-decoy
    p_z: float = 0.9  # Alice's basis bias
    p_z_bob: float | None = None  # Bob's (passive splitter / active choice); None = p_z
    distance_km: float = 25.0
    fibre_loss_db_per_km: float = 0.2
    extra_loss_db: float = 3.0  # Bob's optics, connectors
    misalignment: float = 0.01  # probability a photon flips its bit in the matching basis
    receiver: str = "passive"  # "passive" (4 detectors) or "active" (2 detectors)
    efficiency: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2)  # per physical detector
    dark_count_hz: tuple[float, ...] = (500.0, 500.0, 500.0, 500.0)
    afterpulse_prob: float = 0.01  # per accepted click
    afterpulse_tau_ps: float = 20_000.0  # after the dead time, exponential
    dead_time_ns: float = 10.0
    jitter_sigma_ps: float = 30.0  # Gaussian core
    jitter_tail_prob: float = 0.05  # fraction of clicks with an extra exponential delay
    jitter_tail_ps: float = 60.0  # mean of that delay
    time_offset_ps: int = 123_456  # Bob's clock = Alice's + offset (+ drift)
    drift_ppm: float = 0.0  # frequency offset of Bob's clock
    wander_ps: float = 0.0  # amplitude of a slow sinusoidal clock wander
    wander_period_s: float = 0.1
    eve_fraction: float = 0.0  # intercept-resend on this fraction of pulses
    sync_divider: int = 1 << 16  # a clock edge on CLOCK_CHANNEL every this many slots (0 = none)
    sync_delay_ps: int = 250
    seed: int = 1
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"simulator parameter {name}: {why}")

        if not self.clock_rate_hz > 0:
            raise bad("clock_rate_hz", "must be positive")
        if len(self.intensities) != 3 or any(m < 0 for m in self.intensities):
            raise bad("intensities", "need three non-negative mean photon numbers")
        p = self.intensity_probs
        if len(p) != 3 or any(x < 0 for x in p) or not math.isclose(sum(p), 1.0, abs_tol=1e-9):
            raise bad("intensity_probs", f"need three probabilities summing to 1, got {p}")
        for name in ("p_z", "misalignment", "afterpulse_prob", "jitter_tail_prob", "eve_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise bad(name, f"must be in [0, 1], got {v}")
        if self.p_z_bob is not None and not 0.0 <= self.p_z_bob <= 1.0:
            raise bad("p_z_bob", "must be in [0, 1]")
        if self.receiver not in ("passive", "active"):
            raise bad("receiver", "must be 'passive' or 'active'")
        n = self.n_detectors
        if len(self.efficiency) != n or any(not 0 <= e <= 1 for e in self.efficiency):
            raise bad("efficiency", f"need {n} values in [0, 1] for a {self.receiver} receiver")
        if len(self.dark_count_hz) != n or any(d < 0 for d in self.dark_count_hz):
            raise bad("dark_count_hz", f"need {n} non-negative rates")
        for name in ("distance_km", "fibre_loss_db_per_km", "extra_loss_db", "dead_time_ns"):
            if getattr(self, name) < 0:
                raise bad(name, "must be non-negative")
        if self.jitter_sigma_ps < 0 or self.jitter_tail_ps < 0 or self.afterpulse_tau_ps < 0:
            raise bad("jitter", "widths must be non-negative")
        if not -1000.0 < self.drift_ppm < 1000.0:
            raise bad("drift_ppm", "must be within +/-1000 ppm")
        if self.sync_divider < 0:
            raise bad("sync_divider", "must be >= 0")

    @property
    def n_detectors(self) -> int:
        return 4 if self.receiver == "passive" else 2

    @property
    def slot_period_ps(self) -> float:
        return 1e12 / self.clock_rate_hz

    @property
    def bob_p_z(self) -> float:
        return self.p_z if self.p_z_bob is None else self.p_z_bob

    @property
    def channel_transmittance(self) -> float:
        """Fibre plus extra loss, detectors excluded."""
        db = self.distance_km * self.fibre_loss_db_per_km + self.extra_loss_db
        return 10.0 ** (-db / 10.0)

    def replace(self, **changes) -> SimConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def link_meta(self) -> dict:
        """The recording metadata that describes this link (what sifting needs)."""
        return {
            "protocol": "bb84-decoy",
            "clock_rate_hz": self.clock_rate_hz,
            "slot_period_ps": self.slot_period_ps,
            "intensities": list(self.intensities),
            "intensity_probs": list(self.intensity_probs),
            "p_z": self.p_z,
            "detectors": [dict(d) for d in DETECTOR_MAP],
            "clock_channel": CLOCK_CHANNEL if self.sync_divider else None,
            "clock_divider": self.sync_divider,
            "receiver": self.receiver,
            "source": "simulated",
            "simulator": self.as_dict(),
        }
