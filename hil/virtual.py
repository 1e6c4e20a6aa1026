"""The virtual time tagger: the firmware's host build on a pseudo-terminal, fed from a tag file.

``VirtualTagger(tagfile)`` builds ``firmware/build/vtagger`` with make if needed, starts it and
exposes the pty path as :attr:`device`, which pyserial opens exactly like ``/dev/ttyUSB0``.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

from postproc.errors import ConfigError

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"
VTAGGER = FIRMWARE_DIR / "build" / "vtagger"


def build_vtagger() -> Path:
    """Build (or bring up to date) the host firmware; returns the binary's path."""
    if shutil.which("make") is None or shutil.which("cc") is None:
        raise ConfigError("building the virtual time tagger needs make and a C compiler (cc)")
    (FIRMWARE_DIR / "build").mkdir(exist_ok=True)
    # parallel test workers may build at once: one make at a time
    with open(FIRMWARE_DIR / "build" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["make", "-s", "-C", str(FIRMWARE_DIR), "host"],
                              capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConfigError(f"firmware host build failed:\n{proc.stdout}{proc.stderr}")
    return VTAGGER


class VirtualTagger:
    """A running ``vtagger`` process; use as a context manager."""

    def __init__(self, tagfile: str | Path, *, rate: float | None = None, fifo: int | None = None,
                 loop: bool = False, max_tags: int | None = None,
                 link: str | Path | None = None) -> None:
        args = [str(build_vtagger()), "--tags", str(tagfile)]
        if rate:
            args += ["--rate", repr(float(rate))]
        if fifo:
            args += ["--fifo", str(int(fifo))]
        if loop:
            args.append("--loop")
        if max_tags:
            args += ["--max-tags", str(int(max_tags))]
        if link:
            args += ["--link", str(link)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PTY "):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.wait()
            raise ConfigError(f"virtual time tagger did not start: {line} {err}".strip())
        self.device = line[4:]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> VirtualTagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
