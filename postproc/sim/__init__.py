"""Link simulators: decoy BB84 (prepare and measure) and BBM92 (entangled pairs)."""

from postproc.sim.bb84 import SimChunk, SimTruth, simulate, simulate_to_recording
from postproc.sim.config import CLOCK_CHANNEL, DETECTOR_MAP, SimConfig

__all__ = [
    "CLOCK_CHANNEL",
    "DETECTOR_MAP",
    "SimChunk",
    "SimConfig",
    "SimTruth",
    "simulate",
    "simulate_to_recording",
]
