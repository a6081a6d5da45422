"""Encoder for the AWS event-stream wire format (``application/vnd.amazon.eventstream``).

botocore ships only the decoder (:class:`botocore.eventstream.EventStreamBuffer`); the Bedrock stand-in
needs the other direction to answer ``ConverseStream`` and ``InvokeModelWithResponseStream``.

A message is: prelude (total length u32, headers length u32, prelude CRC32 u32), headers, payload,
and a CRC32 of everything before it. Every header here is a string (type 7).
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import Mapping
from typing import Any

_STRING = 7  # event-stream header value type for a UTF-8 string


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` and a raw ``payload``."""
    encoded = bytearray()
    for name, value in headers.items():
        name_bytes, value_bytes = name.encode(), value.encode()
        encoded += struct.pack("!B", len(name_bytes)) + name_bytes
        encoded += struct.pack("!BH", _STRING, len(value_bytes)) + value_bytes
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    body = prelude + struct.pack("!I", binascii.crc32(prelude)) + bytes(encoded) + payload
    return body + struct.pack("!I", binascii.crc32(body))


def encode_event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    """An ``event`` message whose payload is ``payload`` as compact JSON, as Bedrock sends them."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def encode_exception(exception_type: str, payload: Mapping[str, Any]) -> bytes:
    """An in-stream ``exception`` message (e.g. ``throttlingException``, ``modelStreamErrorException``): how
    Bedrock reports an error after a stream has started with HTTP 200."""
    headers = {":exception-type": exception_type, ":content-type": "application/json",
               ":message-type": "exception"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())
