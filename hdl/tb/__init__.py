"""cocotb benches of the Verilog blocks in hdl/rtl.

A package, so that bench module names never clash with test modules in tests/.
"""
