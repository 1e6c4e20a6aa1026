"""qkdpp post-processing pipeline: time tags in, secret keys out."""

__version__ = "0.1.0"
