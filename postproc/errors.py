"""Exceptions and warnings that name the input and what is wrong with it."""

from __future__ import annotations

from pathlib import Path


class QkdppError(Exception):
    """Base class of every error qkdpp raises on purpose."""


class FormatError(QkdppError, ValueError):
    """Malformed input: names the source, the byte offset and the field where known."""

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        offset: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.offset = offset
        self.field = field
        parts = []
        if self.source is not None:
            parts.append(self.source)
        if offset is not None:
            parts.append(f"offset {offset}")
        if field is not None:
            parts.append(f"field {field!r}")
        where = ", ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)


class FormatWarning(UserWarning):
    """Recoverable problem in an input (truncation, unsorted times): data decoded so far is kept."""


class ConfigError(QkdppError, ValueError):
    """Invalid configuration or parameter value; the message names the parameter."""


class ProtocolError(QkdppError):
    """A classical-channel message was malformed, unauthenticated, replayed or out of order."""


class BlockAbortedError(QkdppError):
    """A block yields no key; the reason is safe to log (it never contains key material)."""
