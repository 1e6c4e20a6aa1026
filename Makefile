# qkdpp: every target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= -n 2 -m "not slow"

.PHONY: demo test bench synth lint iverilog yosys nextpnr arm-gcc firmware-test clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/qkdpp demo

test: $(STAMP) iverilog
	$(VENV)/bin/ruff check .
	$(MAKE) firmware-test
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VENV)/bin/qkdpp bench all

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	@if command -v verilator >/dev/null; then cd hdl && ../$(PY) -m tb.synth --lint; \
	else echo "verilator not found: HDL lint skipped"; fi

# Icarus Verilog runs the cocotb benches. Installed with apt-get when we are root.
iverilog:
	@command -v iverilog >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq iverilog; \
	  else echo "iverilog is missing: install Icarus Verilog >= 11 (apt-get install iverilog)"; exit 1; fi; }

yosys:
	@command -v yosys >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq yosys; \
	  else echo "yosys is missing: apt-get install yosys"; exit 1; fi; }

# iCE40 place and route for the fmax column of the block table
nextpnr:
	@command -v nextpnr-ice40 >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nextpnr-ice40 fpga-icestorm; \
	  else echo "nextpnr-ice40 is missing: apt-get install nextpnr-ice40 fpga-icestorm"; exit 1; fi; }

# LUT/FF/BRAM/DSP per block (yosys synth_xilinx -family xc7) and iCE40 fmax (nextpnr-ice40);
# `make synth BLOCKS="toeplitz syndrome"` for a subset
synth: $(STAMP) yosys nextpnr
	cd hdl && ../$(PY) -m tb.synth $(BLOCKS)

# The firmware's Cortex-M cross build (compile + size check) needs Debian's gcc-arm-none-eabi
# (and newlib's headers: the core uses string.h);
# installed when we are root, skipped with a message where it cannot be had.
arm-gcc:
	@command -v arm-none-eabi-gcc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi \
	      || echo "gcc-arm-none-eabi could not be installed: Cortex-M cross build skipped"; \
	  else echo "gcc-arm-none-eabi is missing: Cortex-M cross build skipped"; fi; }

firmware-test: arm-gcc
	@if [ -f firmware/Makefile ]; then $(MAKE) -C firmware test; fi

clean:
	rm -rf hdl/build firmware/build .pytest_cache
