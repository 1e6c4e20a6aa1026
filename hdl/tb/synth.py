"""Synthesis figures for the blocks in hdl/rtl (``make synth`` runs this).

For each block: Yosys ``synth_xilinx -family xc7`` gives LUT/FF/BRAM/DSP; where the block fits an
iCE40 HX8K, ``synth_ice40`` + ``nextpnr-ice40`` give an fmax estimate. nextpnr needs the design's
ports on pins, so the block is wrapped out of context: a 1-pin shift chain feeds every input
register and a load/shift register drains every output to 1 pin. That leaves the block's own
register-to-register paths as the critical ones.

Results go to hdl/build/synth/<block>.json; ``--table`` prints the README's block table, joining
them with the cycles per item that the benches wrote to hdl/build/<bench build>/metrics.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HDL_DIR = Path(__file__).resolve().parents[1]
RTL_DIR = HDL_DIR / "rtl"
OUT_DIR = HDL_DIR / "build" / "synth"


def _literal(v: int | str, sized: bool = True) -> str:
    # yosys reads a bare decimal as 32 bits: wide parameters (exponent tables) go as hex
    if isinstance(v, str):  # already a Verilog literal
        return v
    if 0 <= v < 2**31:
        return str(v)
    return f"{v.bit_length()}'h{v:x}" if sized else f"'h{v:x}"


def _chparams(top: str, params: dict) -> str:
    return "".join(f"chparam -set {k} {_literal(v)} {top}; " for k, v in params.items())


def yosys(script: str, log: Path) -> None:
    res = subprocess.run(
        ["yosys", "-q", "-l", str(log), "-p", script], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise RuntimeError(f"yosys failed (see {log}): {res.stderr.strip()[-2000:]}")


def xc7_resources(name: str, cfg: dict, out: Path) -> dict:
    src = RTL_DIR / f"{name}.v"
    stat = out / f"{name}_xc7_stat.json"
    yosys(
        f"read_verilog {src}; {_chparams(name, cfg['params'])}"
        f"synth_xilinx -family xc7 -top {name} -flatten; tee -q -o {stat} stat -json",
        out / f"{name}_xc7.log",
    )
    cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]
    count = lambda pat: sum(n for c, n in cells.items() if re.fullmatch(pat, c))  # noqa: E731
    return {
        "LUT": count(r"LUT\d"),
        "LUTRAM": count(r"RAM\d+[XM].*|SRL.*"),
        "FF": count(r"FD[RSCP]E?"),
        "CARRY4": count(r"CARRY4"),
        # BRAM in RAMB36 units (a RAMB18 is half of one)
        "BRAM": count(r"RAMB36E1") + 0.5 * count(r"RAMB18E1"),
        "DSP": count(r"DSP48E1"),
        "cells": cells,
    }


def _ports(name: str, cfg: dict, out: Path) -> list[tuple[str, str, int]]:
    js = out / f"{name}_ports.json"
    yosys(
        f"read_verilog {RTL_DIR / name}.v; {_chparams(name, cfg['params'])}"
        f"hierarchy -top {name}; proc; write_json {js}",
        out / f"{name}_ports.log",
    )
    mod = json.loads(js.read_text())["modules"][name]
    return [(p, d["direction"], len(d["bits"])) for p, d in mod["ports"].items()]


def ice40_wrapper(name: str, cfg: dict, out: Path) -> Path:
    ports = _ports(name, cfg, out)
    ins = [(p, w) for p, d, w in ports if d == "input" and p != "clk"]
    outs = [(p, w) for p, d, w in ports if d == "output"]
    n_in = sum(w for _, w in ins)
    n_out = sum(w for _, w in outs)
    lines = [
        "`default_nettype none",
        "module fmax_wrap(input wire clk, input wire din, output wire dout);",
        f"  reg [{n_in}:0] sin = 0;",
        f"  always @(posedge clk) sin <= {{sin[{n_in - 1}:0], din}};",
        f"  wire [{n_out - 1}:0] o;",
        f"  reg [{n_out - 1}:0] sout = 0;",
        f"  always @(posedge clk) sout <= sin[{n_in}] ? o : {{1'b0, sout[{n_out - 1}:1]}};",
        "  assign dout = sout[0];",
    ]
    params = ", ".join(f".{k}({_literal(v)})" for k, v in cfg["params"].items())
    conns = [".clk(clk)"]
    lo = 0
    for p, w in ins:
        conns.append(f".{p}(sin[{lo + w - 1}:{lo}])")
        lo += w
    lo = 0
    for p, w in outs:
        conns.append(f".{p}(o[{lo + w - 1}:{lo}])")
        lo += w
    lines.append(f"  {name} {'#(' + params + ') ' if params else ''}dut ({', '.join(conns)});")
    lines.append("endmodule")
    path = out / f"{name}_fmax_wrap.v"
    path.write_text("\n".join(lines) + "\n")
    return path


def ice40_fmax(name: str, cfg: dict, out: Path) -> dict:
    wrap = ice40_wrapper(name, cfg, out)
    js = out / f"{name}_ice40.json"
    yosys(
        f"read_verilog {RTL_DIR / name}.v {wrap}; synth_ice40 -top fmax_wrap -json {js}",
        out / f"{name}_ice40.log",
    )
    log = out / f"{name}_nextpnr.log"
    res = subprocess.run(
        [
            "nextpnr-ice40",
            "--hx8k",
            "--package",
            "ct256",
            "--json",
            str(js),
            "--freq",
            "200",
            "--seed",
            "1",
            "--pcf-allow-unconstrained",
            "--timing-allow-fail",
            "--log",
            str(log),
            "-q",
        ],
        capture_output=True,
        text=True,
    )
    text = log.read_text() if log.exists() else res.stderr
    if res.returncode != 0:
        reason = (
            "does not fit HX8K"
            if "Unable to place" in text or "too many" in text
            else "nextpnr failed"
        )
        return {"fmax_mhz": None, "ice40_note": reason}
    freqs = re.findall(r"Max frequency for clock '[^']*': ([\d.]+) MHz", text)
    util = re.search(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", text)
    return {
        "fmax_mhz": float(freqs[-1]) if freqs else None,
        "ice40_lc": int(util.group(1)) if util else None,
    }


def synth(blocks: dict[str, dict], names: list[str]) -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        cfg = dict(blocks[name])
        if callable(cfg["params"]):
            cfg["params"] = cfg["params"]()
        res = {"block": name, "params": cfg["params"], **xc7_resources(name, cfg, OUT_DIR)}
        if cfg.get("ice40", True) and shutil.which("nextpnr-ice40"):
            res.update(ice40_fmax(name, cfg, OUT_DIR))
        (OUT_DIR / f"{name}.json").write_text(json.dumps(res, indent=1))
        print(
            f"{name:14s} LUT {res['LUT']:6d}  LUTRAM {res['LUTRAM']:4d}  FF {res['FF']:6d}  "
            f"BRAM {res['BRAM']:4g}  DSP {res['DSP']:3d}  "
            f"fmax(iCE40 HX8K) {res.get('fmax_mhz') or res.get('ice40_note', '-')}",
            flush=True,
        )


def lint(blocks: dict[str, dict]) -> int:
    """Verilator --lint-only -Wall on every RTL file, with the synthesised parameters."""
    bad = 0
    for src in sorted(RTL_DIR.glob("*.v")):
        name = src.stem
        params = blocks.get(name, {}).get("params", {})
        params = params() if callable(params) else params
        cmd = [
            "verilator",
            "--lint-only",
            "-Wall",
            "-Wno-DECLFILENAME",
            "-Wno-UNUSEDPARAM",
            "--top-module",
            name,
            *(f"-G{k}={_literal(v)}" for k, v in params.items()),
            str(src),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True)
        print(f"verilator lint {src.name}: {'ok' if res.returncode == 0 else 'FAILED'}")
        if res.returncode:
            print(res.stderr, file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def table(blocks: dict[str, dict]) -> str:
    rows = [
        "| block | reference function | parameters | cycles/item (item) | LUT | FF | BRAM36 | "
        "DSP | fmax iCE40 HX8K | items/s at 200 MHz |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, cfg in blocks.items():
        sfile = OUT_DIR / f"{name}.json"
        mfile = HDL_DIR / "build" / cfg["bench_build"] / "metrics.json"
        s = json.loads(sfile.read_text()) if sfile.exists() else {}
        params = s.get("params", {})
        m = json.loads(mfile.read_text()) if mfile.exists() else {}
        cpi = m.get(cfg.get("metric", "cycles_per_item"))
        par = ", ".join(f"{k}={v}" for k, v in params.items() if k in cfg.get("show", params))
        fmax = s.get("fmax_mhz")
        rows.append(
            f"| `{name}` | `{cfg['reference']}` | {par} | "
            f"{f'{cpi:.3g}' if cpi else '?'} ({cfg['item']}) | {s.get('LUT', '?')} "
            f"(+{s.get('LUTRAM', 0)} LUTRAM) | {s.get('FF', '?')} | {s.get('BRAM', '?')} | "
            f"{s.get('DSP', '?')} | {f'{fmax:.0f} MHz' if fmax else s.get('ice40_note', '-')} | "
            f"{f'{200 / cpi:.0f} M' if cpi else '?'} |"
        )
    return "\n".join(rows)


def main() -> int:
    from tb.blocks import BLOCKS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blocks", nargs="*", help="blocks to synthesise (default: all)")
    ap.add_argument("--table", action="store_true", help="print the README table and exit")
    ap.add_argument("--lint", action="store_true", help="verilator lint of every block and exit")
    args = ap.parse_args()
    if args.lint:
        return lint(BLOCKS)
    if args.table:
        print(table(BLOCKS))
        return 0
    names = args.blocks or [b for b in BLOCKS if (RTL_DIR / f"{b}.v").exists()]
    unknown = [b for b in names if b not in BLOCKS]
    if unknown:
        print(f"unknown block(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    synth(BLOCKS, names)
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(HDL_DIR), str(HDL_DIR.parent)]
    sys.exit(main())
