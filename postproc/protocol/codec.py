"""Message codec: typed, versioned, length-prefixed serialisation of frozen dataclasses.

A message is a frozen ``@dataclass`` whose fields are ``int``, ``float``, ``bool``, ``str``,
``bytes``, a 1-D ``np.ndarray`` (dtypes in :data:`ARRAY_DTYPES`), ``list`` of those, or
``X | None``. Each message class is registered under a 16-bit type id
(:func:`register_message`). Its *schema fingerprint* (32 bits of SHA-256 over the class name and
the field names and types) travels in every frame, so two parties with different definitions of
a message refuse each other's frames instead of misreading them.

Frame layout (all integers little-endian)::

    0  magic      4 bytes  b"QKPM"
    4  version    u8       CODEC_VERSION
    5  reserved   u8       0
    6  type id    u16
    8  schema     u32      fingerprint of the message class
    12 length     u32      payload bytes
    16 payload    one value per field, in declaration order

A value is a one-byte type code followed by its body: ``i`` int (u8 byte count n <= 64, then n
bytes of two's complement), ``f`` float (IEEE-754 double), ``b`` bool (one byte 0 or 1), ``s`` str
(u32 length + UTF-8), ``y`` bytes (u32 length + raw), ``a`` array (u8 dtype code, u64 item count,
raw little-endian items), ``l`` list (u32 count + values), ``n`` None.

Decoding is strict: wrong magic, version, type id, schema, type code, length, trailing bytes or
invalid values raise :class:`~postproc.errors.ProtocolError` naming the message, the field and
the byte offset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import struct
import types
import typing
from dataclasses import dataclass
from typing import Any

import numpy as np

from postproc.errors import ProtocolError

MAGIC = b"QKPM"
CODEC_VERSION = 1
HEADER = struct.Struct("<4sBBHII")
HEADER_SIZE = HEADER.size  # 16
MAX_INT_BYTES = 64

# wire code -> dtype; the order is part of the format
ARRAY_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(d) for d in ("<u1", "<i1", "<i2", "<i4", "<i8", "<u4", "<u8", "<f8", "<u2")
)
_DTYPE_CODE = {d: i for i, d in enumerate(ARRAY_DTYPES)}

_SCALARS: dict[type, bytes] = {int: b"i", float: b"f", bool: b"b", str: b"s", bytes: b"y"}


# ------------------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class FieldType:
    """Resolved annotation of one field: a scalar, an array or a list, optionally None."""

    kind: str  # "int", "float", "bool", "str", "bytes", "array", "list"
    item: FieldType | None = None  # element type of a list
    optional: bool = False

    def describe(self) -> str:
        base = f"list[{self.item.describe()}]" if self.kind == "list" and self.item else self.kind
        return base + ("|None" if self.optional else "")


def _resolve(tp: Any, where: str) -> FieldType:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1 or len(typing.get_args(tp)) != 2:
            raise TypeError(f"{where}: only 'X | None' unions are supported, got {tp!r}")
        return dataclasses.replace(_resolve(args[0], where), optional=True)
    if origin is list:
        (arg,) = typing.get_args(tp) or (None,)
        if arg is None:
            raise TypeError(f"{where}: list fields need an element type, e.g. list[int]")
        item = _resolve(arg, where)
        if item.optional or item.kind == "list":
            raise TypeError(f"{where}: list elements must be scalars or arrays, got {arg!r}")
        return FieldType("list", item)
    if tp is np.ndarray or origin is np.ndarray:
        return FieldType("array")
    if tp in _SCALARS:
        return FieldType(tp.__name__)
    raise TypeError(f"{where}: unsupported field type {tp!r}")


@dataclass(frozen=True)
class MessageSchema:
    cls: type
    type_id: int
    fields: tuple[tuple[str, FieldType], ...]
    fingerprint: int


def _schema_for(cls: type, type_id: int) -> MessageSchema:
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__qualname__} must be a frozen dataclass to be a message")
    hints = typing.get_type_hints(cls)
    fields = tuple(
        (f.name, _resolve(hints[f.name], f"{cls.__qualname__}.{f.name}"))
        for f in dataclasses.fields(cls)
    )
    text = cls.__qualname__ + "|" + ";".join(f"{n}:{t.describe()}" for n, t in fields)
    fingerprint = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return MessageSchema(cls, type_id, fields, fingerprint)


# ----------------------------------------------------------------------------------- registry
_BY_ID: dict[int, MessageSchema] = {}
_BY_CLASS: dict[type, MessageSchema] = {}
# type id -> "module:Class" of messages defined by other stages, imported when first needed
_LAZY: dict[int, str] = {}


def register_message(cls: type, type_id: int) -> type:
    """Register ``cls`` as ``type_id`` (1..65535); registering the same pair again is a no-op."""
    if not 0 < type_id < 1 << 16:
        raise ValueError(f"message type id must be in 1..65535, got {type_id}")
    existing = _BY_ID.get(type_id)
    if existing is not None:
        if existing.cls is cls:
            return cls
        raise ValueError(f"message type id {type_id} already taken by {existing.cls.__qualname__}")
    if cls in _BY_CLASS:
        raise ValueError(f"{cls.__qualname__} already registered as {_BY_CLASS[cls].type_id}")
    schema = _schema_for(cls, type_id)
    _BY_ID[type_id] = schema
    _BY_CLASS[cls] = schema
    return cls


def message(type_id: int):
    """Class decorator: ``@message(7)`` on a frozen dataclass registers it as type 7."""

    def wrap(cls: type) -> type:
        return register_message(cls, type_id)

    return wrap


def register_lazy(type_id: int, target: str) -> None:
    """Declare that ``type_id`` is ``"package.module:ClassName"``, imported on first use."""
    _LAZY[type_id] = target


def _load_lazy(type_id: int) -> None:
    target = _LAZY.get(type_id)
    if target is None:
        return
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    register_message(cls, type_id)


def _lazy_id_of(cls: type) -> int | None:
    want = f"{cls.__module__}:{cls.__qualname__}"
    for type_id, target in _LAZY.items():
        if target == want:
            return type_id
    return None


def schema_of(cls: type) -> MessageSchema:
    schema = _BY_CLASS.get(cls)
    if schema is None:
        type_id = _lazy_id_of(cls)
        if type_id is not None:
            register_message(cls, type_id)
            schema = _BY_CLASS[cls]
    if schema is None:
        raise ProtocolError(f"{cls.__qualname__} is not a registered message type")
    return schema


def schema_by_id(type_id: int) -> MessageSchema:
    if type_id not in _BY_ID:
        _load_lazy(type_id)
    schema = _BY_ID.get(type_id)
    if schema is None:
        raise ProtocolError(f"unknown message type id {type_id}")
    return schema


# ------------------------------------------------------------------------------------- encode
def _enc_value(out: list[bytes], ft: FieldType, value: Any, where: str) -> None:
    if value is None:
        if not ft.optional:
            raise ProtocolError(f"{where}: None is not allowed (type {ft.describe()})")
        out.append(b"n")
        return
    kind = ft.kind
    if kind == "bool":
        if not isinstance(value, bool | np.bool_):
            raise ProtocolError(f"{where}: expected bool, got {type(value).__name__}")
        out.append(b"b\x01" if value else b"b\x00")
    elif kind == "int":
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise ProtocolError(f"{where}: expected int, got {type(value).__name__}")
        v = int(value)
        n = max(1, (v.bit_length() + 8) // 8)  # room for the sign bit
        if n > MAX_INT_BYTES:
            raise ProtocolError(f"{where}: int needs {n} bytes, limit {MAX_INT_BYTES}")
        out.append(b"i" + bytes([n]) + v.to_bytes(n, "little", signed=True))
    elif kind == "float":
        if isinstance(value, bool | np.bool_) or not isinstance(value, float | int | np.number):
            raise ProtocolError(f"{where}: expected float, got {type(value).__name__}")
        out.append(b"f" + struct.pack("<d", float(value)))
    elif kind == "str":
        if not isinstance(value, str):
            raise ProtocolError(f"{where}: expected str, got {type(value).__name__}")
        raw = value.encode("utf-8")
        out.append(b"s" + struct.pack("<I", len(raw)) + raw)
    elif kind == "bytes":
        if not isinstance(value, bytes | bytearray):
            raise ProtocolError(f"{where}: expected bytes, got {type(value).__name__}")
        out.append(b"y" + struct.pack("<I", len(value)) + bytes(value))
    elif kind == "array":
        if not isinstance(value, np.ndarray) or value.ndim != 1:
            raise ProtocolError(f"{where}: expected a 1-D numpy array")
        dt = value.dtype.newbyteorder("<")
        code = _DTYPE_CODE.get(dt)
        if code is None:
            raise ProtocolError(f"{where}: array dtype {value.dtype} is not allowed on the wire")
        data = np.ascontiguousarray(value, dtype=dt).tobytes()
        out.append(b"a" + struct.pack("<BQ", code, value.shape[0]) + data)
    elif kind == "list":
        if not isinstance(value, list | tuple):
            raise ProtocolError(f"{where}: expected list, got {type(value).__name__}")
        out.append(b"l" + struct.pack("<I", len(value)))
        assert ft.item is not None
        for i, v in enumerate(value):
            _enc_value(out, ft.item, v, f"{where}[{i}]")
    else:  # pragma: no cover - _resolve admits nothing else
        raise ProtocolError(f"{where}: unknown kind {kind}")


def encode_payload(msg: Any) -> tuple[MessageSchema, bytes]:
    schema = schema_of(type(msg))
    out: list[bytes] = []
    for name, ft in schema.fields:
        _enc_value(out, ft, getattr(msg, name), f"{schema.cls.__qualname__}.{name}")
    return schema, b"".join(out)


def encode(msg: Any) -> bytes:
    """Serialise a registered message to one frame (header + payload)."""
    schema, payload = encode_payload(msg)
    if len(payload) >= 1 << 32:
        raise ProtocolError(f"{schema.cls.__qualname__}: payload of {len(payload)} bytes too large")
    header = HEADER.pack(MAGIC, CODEC_VERSION, 0, schema.type_id, schema.fingerprint, len(payload))
    return header + payload


# ------------------------------------------------------------------------------------- decode
class _Reader:
    def __init__(self, buf: memoryview, base: int) -> None:
        self.buf = buf
        self.pos = 0
        self.base = base  # offset of buf[0] in the frame, for error messages

    def take(self, n: int, where: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ProtocolError(
                f"{where}: needs {n} bytes at offset {self.base + self.pos}, "
                f"only {len(self.buf) - self.pos} left (truncated or garbage)"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def offset(self) -> int:
        return self.base + self.pos


def _dec_value(r: _Reader, ft: FieldType, where: str) -> Any:
    at = r.offset()
    code = bytes(r.take(1, where))
    if code == b"n":
        if not ft.optional:
            raise ProtocolError(f"{where}: None at offset {at} but the field is {ft.describe()}")
        return None
    kind = ft.kind
    expected = b"a" if kind == "array" else b"l" if kind == "list" else _SCALARS[_KIND_TYPE[kind]]
    if code != expected:
        raise ProtocolError(
            f"{where}: type code {code!r} at offset {at}, expected {expected!r} ({ft.describe()})"
        )
    if kind == "bool":
        v = r.take(1, where)[0]
        if v > 1:
            raise ProtocolError(f"{where}: bool byte {v} at offset {at + 1} is not 0 or 1")
        return bool(v)
    if kind == "int":
        n = r.take(1, where)[0]
        if not 1 <= n <= MAX_INT_BYTES:
            raise ProtocolError(f"{where}: int byte count {n} at offset {at + 1} out of range")
        return int.from_bytes(r.take(n, where), "little", signed=True)
    if kind == "float":
        return struct.unpack("<d", r.take(8, where))[0]
    if kind in ("str", "bytes"):
        (n,) = struct.unpack("<I", r.take(4, where))
        raw = bytes(r.take(n, where))
        if kind == "bytes":
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"{where}: invalid UTF-8 at offset {at + 5}: {exc.reason}"
            ) from None
    if kind == "array":
        dcode, count = struct.unpack("<BQ", r.take(9, where))
        if dcode >= len(ARRAY_DTYPES):
            raise ProtocolError(f"{where}: unknown array dtype code {dcode} at offset {at + 1}")
        dt = ARRAY_DTYPES[dcode]
        nbytes = count * dt.itemsize
        raw = r.take(nbytes, where)
        return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="), copy=True)
    if kind == "list":
        (count,) = struct.unpack("<I", r.take(4, where))
        if count > len(r.buf) - r.pos:  # every element takes at least one byte
            raise ProtocolError(f"{where}: list of {count} items at offset {at} exceeds the frame")
        assert ft.item is not None
        return [_dec_value(r, ft.item, f"{where}[{i}]") for i in range(count)]
    raise ProtocolError(f"{where}: unknown kind {kind}")  # pragma: no cover


_KIND_TYPE = {"int": int, "float": float, "bool": bool, "str": str, "bytes": bytes}


def decode_payload(schema: MessageSchema, payload: bytes | memoryview, base: int = 0) -> Any:
    r = _Reader(memoryview(payload), base)
    values = {}
    for name, ft in schema.fields:
        values[name] = _dec_value(r, ft, f"{schema.cls.__qualname__}.{name}")
    if r.pos != len(r.buf):
        raise ProtocolError(
            f"{schema.cls.__qualname__}: {len(r.buf) - r.pos} trailing bytes at offset {r.offset()}"
        )
    try:
        return schema.cls(**values)
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{schema.cls.__qualname__}: rejected decoded values: {exc}") from None


def parse_header(frame: bytes | memoryview) -> tuple[MessageSchema, int]:
    """Check a frame's header; return the message schema and the payload length."""
    if len(frame) < HEADER_SIZE:
        raise ProtocolError(
            f"frame of {len(frame)} bytes is shorter than the {HEADER_SIZE}-byte header"
        )
    magic, version, reserved, type_id, fingerprint, length = HEADER.unpack_from(frame)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {bytes(magic)!r} at offset 0 (expected {MAGIC!r})")
    if version != CODEC_VERSION:
        raise ProtocolError(
            f"codec version {version} at offset 4, this side speaks {CODEC_VERSION}"
        )
    if reserved != 0:
        raise ProtocolError(f"reserved byte at offset 5 is {reserved}, must be 0")
    schema = schema_by_id(type_id)
    if fingerprint != schema.fingerprint:
        raise ProtocolError(
            f"{schema.cls.__qualname__} (type {type_id}): schema fingerprint {fingerprint:#010x} "
            f"differs from this side's {schema.fingerprint:#010x} (incompatible versions)"
        )
    return schema, length


def decode(frame: bytes | memoryview) -> Any:
    """Parse one frame produced by :func:`encode`; raise ProtocolError on any defect."""
    schema, length = parse_header(frame)
    if len(frame) != HEADER_SIZE + length:
        raise ProtocolError(
            f"{schema.cls.__qualname__}: frame is {len(frame)} bytes, header says "
            f"{HEADER_SIZE + length} (truncated or extended)"
        )
    return decode_payload(schema, memoryview(frame)[HEADER_SIZE:], HEADER_SIZE)


def frame_length(header: bytes | memoryview) -> int:
    """Total frame length announced by a 16-byte header (no registry lookup)."""
    return HEADER_SIZE + struct.unpack_from("<I", header, 12)[0]


__all__ = [
    "ARRAY_DTYPES",
    "CODEC_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "decode",
    "encode",
    "frame_length",
    "message",
    "register_lazy",
    "register_message",
    "schema_by_id",
    "schema_of",
]
