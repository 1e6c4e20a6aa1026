"""High-level sessions behind the CLI: demo (simulated link), process (recording), one TCP party."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from postproc.errors import ConfigError
from postproc.pipeline import sources
from postproc.pipeline.config import PipelineConfig
from postproc.pipeline.local import PairResult, run_pair
from postproc.pipeline.parties import AliceParty, BobParty
from postproc.pipeline.report import TABLE_HEADER, BlockReport, format_block_row
from postproc.pipeline.sifting import AliceBlock, BobRun, bob_run_from_events
from postproc.pipeline.stages import open_store
from postproc.pipeline.summary import format_summary, keys_identical, plot, summarise, write_json
from postproc.progress import progress
from postproc.protocol import channel as chmod
from postproc.protocol.auth import AuthenticatedChannel, AuthKeys

# Demo link: the simulator's 25 km defaults with decoy settings the planner finds for 1e8-slot
# blocks (qkdpp plan --distance-km 25 ...), rounded.
DEMO_MU = (0.57, 0.25, 0.0)
DEMO_P_MU = (0.4, 0.4, 0.2)
DEMO_P_Z = 0.83
DEMO_BLOCK_SLOTS = 100_000_000


def _printer(as_json: bool, n_blocks: int | None, out=sys.stdout):
    """on_block callback: a table row per block (text mode) and a progress bar on a tty."""
    state: dict[str, Any] = {"header": False}

    def on_block(rep: BlockReport) -> None:
        if as_json:
            return
        if not state["header"]:
            print(TABLE_HEADER, file=out, flush=True)
            state["header"] = True
        print(format_block_row(rep), file=out, flush=True)

    return on_block


def run_local(
    alice_iter: Iterable[AliceBlock],
    bob_run: BobRun,
    cfg: PipelineConfig,
    out_dir: Path,
    *,
    link_s: float,
    seed: int | None,
    as_json: bool,
    n_blocks: int | None = None,
    extra: dict | None = None,
    tap_ab=None,
    tap_ba=None,
) -> dict[str, Any]:
    """Both parties in this process (two threads), key stores and reports in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stores = []
    for name in ("alice", "bob"):
        path = out_dir / f"{name}_keys.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        stores.append(open_store(path))
    a_store, b_store = stores
    printer = _printer(as_json, n_blocks)
    t0 = time.perf_counter()
    with progress("blocks", n_blocks) as advance:

        def on_block(rep: BlockReport) -> None:
            printer(rep)
            advance(1)

        result: PairResult = run_pair(
            sources.prefetch(alice_iter),
            bob_run,
            cfg,
            alice_store=a_store,
            bob_store=b_store,
            seed=seed,
            on_block=on_block,
            tap_ab=tap_ab,
            tap_ba=tap_ba,
        )
    processing_s = time.perf_counter() - t0
    for st in stores:
        st.close()
    identical = keys_identical(result, out_dir / "alice_keys.sqlite", out_dir / "bob_keys.sqlite")
    summary = summarise(
        result,
        link_s=link_s,
        processing_s=processing_s,
        identical=identical,
        extra={"config": cfg.as_dict(), "out_dir": str(out_dir), **(extra or {})},
    )
    write_json(out_dir / "report.json", summary)
    block_s = cfg.block_slots * link_s / max(1, cfg.block_slots * len(result.alice.blocks))
    plot(out_dir / "report.png", summary, block_s if result.alice.blocks else 1.0)
    return summary


def demo(
    seconds: float,
    out_dir: Path,
    *,
    seed: int = 1,
    distance_km: float = 25.0,
    eve_fraction: float = 0.0,
    block_slots: int = DEMO_BLOCK_SLOTS,
    as_json: bool = False,
    reconcile_f_start: float | None = None,
    reconcile_mode: str = "fast",
) -> dict[str, Any]:
    from postproc.sim import SimConfig

    sim_cfg = SimConfig(
        intensities=DEMO_MU,
        intensity_probs=DEMO_P_MU,
        p_z=DEMO_P_Z,
        distance_km=distance_km,
        eve_fraction=eve_fraction,
        seed=seed,
    )
    n_slots = round(seconds * sim_cfg.clock_rate_hz)
    if n_slots < block_slots:
        raise ConfigError(
            f"--seconds {seconds} gives {n_slots} slots, less than one block of {block_slots}"
        )
    cfg = PipelineConfig(
        mu=DEMO_MU,
        p_mu=DEMO_P_MU,
        block_slots=block_slots,
        reconcile_f_start=reconcile_f_start,
        reconcile_mode=reconcile_mode,
    )
    if not as_json:
        print(f"simulating {seconds:g} s of the link ({n_slots} slots) ...", flush=True)
    link = sources.SimulatedLink(sim_cfg, n_slots)
    meta = sim_cfg.link_meta()
    summary = run_local(
        sources.alice_blocks(link.alice_chunks(), block_slots),
        bob_run_from_events(link.bob_events, meta, seed=seed, materialise=True),
        cfg,
        out_dir,
        link_s=n_slots / sim_cfg.clock_rate_hz,
        seed=seed,
        as_json=as_json,
        n_blocks=n_slots // block_slots,
        extra={
            "link": {
                "distance_km": distance_km,
                "eve_fraction": eve_fraction,
                "clock_rate_hz": sim_cfg.clock_rate_hz,
                "slots": n_slots,
            }
        },
    )
    summary["simulator_seconds"] = link.sim_seconds
    write_json(out_dir / "report.json", summary)
    return summary


def recording_config(meta: dict, block_slots: int, **overrides: Any) -> PipelineConfig:
    try:
        mu = tuple(float(x) for x in meta["intensities"])
        p_mu = tuple(float(x) for x in meta["intensity_probs"])
    except KeyError as exc:
        raise ConfigError(
            f"recording meta.json lacks {exc.args[0]!r} (needed for decoy bounds)"
        ) from None
    if len(mu) == 3 and p_mu[2] == 0.0:  # one-decoy recorded as three classes
        mu, p_mu = mu[:2], p_mu[:2]
    return PipelineConfig(mu=mu, p_mu=p_mu, block_slots=block_slots, **overrides)


def process(
    recording: Path,
    out_dir: Path,
    *,
    block_slots: int,
    seed: int | None,
    as_json: bool,
    **overrides: Any,
) -> dict[str, Any]:
    from postproc.recording import open_recording

    rec = open_recording(recording)
    cfg = recording_config(rec.meta, block_slots, **overrides)
    clock = float(rec.meta.get("clock_rate_hz") or 1e12 / float(rec.meta["slot_period_ps"]))
    link_s = rec.n_slots / clock
    return run_local(
        sources.alice_blocks(rec.iter_alice(chunk_slots=1 << 22), block_slots),
        bob_run_from_events(lambda: rec.iter_bob(), rec.meta, seed=seed),
        cfg,
        out_dir,
        link_s=link_s,
        seed=seed,
        as_json=as_json,
        n_blocks=rec.n_slots // block_slots,
        extra={"recording": str(recording)},
    )


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"endpoint {text!r}: expected HOST:PORT")
    return host or "127.0.0.1", int(port)


def party(
    role: str,
    recording: Path,
    secret_path: Path,
    store_path: Path,
    *,
    listen: str | None,
    connect: str | None,
    block_slots: int,
    seed: int | None,
    timeout: float,
    as_json: bool,
) -> dict[str, Any]:
    """One party over TCP; it reads only its own half of the recording."""
    from postproc.recording import open_recording

    if (listen is None) == (connect is None):
        raise ConfigError("give exactly one of --listen HOST:PORT or --connect HOST:PORT")
    try:
        secret = secret_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--auth-secret {secret_path}: {exc.strerror}") from None
    rec = open_recording(recording)
    cfg = recording_config(rec.meta, block_slots, timeout_s=timeout)
    raw = (
        chmod.listen(*_endpoint(listen), timeout=timeout, reconnect=True)
        if listen
        else chmod.connect(*_endpoint(connect), timeout=timeout, reconnect=True)
    )
    chan = AuthenticatedChannel(
        raw,
        role,
        AuthKeys.from_secret(secret, tag_bits=cfg.auth_tag_bits),
        timeout=timeout,
        retransmit_s=cfg.retransmit_s,
    )
    store = open_store(store_path)
    rng = np.random.default_rng(seed)
    printer = _printer(as_json, None)
    t0 = time.perf_counter()
    try:
        if role == "alice":
            p = AliceParty(chan, cfg, store, rng, printer)
            report = p.run(
                sources.prefetch(
                    sources.alice_blocks(rec.iter_alice(chunk_slots=1 << 22), block_slots)
                )
            )
        else:
            p = BobParty(chan, cfg, store, rng, printer)
            report = p.run(bob_run_from_events(lambda: rec.iter_bob(), rec.meta, seed=seed))
    finally:
        raw.close()
        store.close()
    clock = float(rec.meta.get("clock_rate_hz") or 1e12 / float(rec.meta["slot_period_ps"]))
    link_s = rec.n_slots / clock
    processing_s = time.perf_counter() - t0
    totals = report.totals()
    return {
        "role": role,
        "blocks": [b.as_dict() for b in report.blocks],
        **totals,
        "link_seconds": link_s,
        "processing_seconds": processing_s,
        "realtime_factor": processing_s / link_s if link_s else None,
        "auth": report.auth,
        "error": report.error,
        "store": str(store_path),
    }


__all__ = ["demo", "format_summary", "party", "process", "run_local"]
