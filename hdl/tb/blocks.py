"""The blocks of hdl/rtl as `make synth` and the README table see them.

Per block: the parameters synthesised (the same set one bench build runs), that bench build's
folder under hdl/build (its metrics.json gives cycles per item), what one item is, and the
reference function its bench compares against. ``ice40: False`` skips the nextpnr fmax run.
"""

BLOCKS: dict[str, dict] = {}
