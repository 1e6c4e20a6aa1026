"""Host side of hardware links: frame codec, serial and PCIe transports, virtual device."""
