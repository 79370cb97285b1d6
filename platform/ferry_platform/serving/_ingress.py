"""What the first hop (a deployment's router) checks before anything is forwarded.

Pure functions over bytes and headers, so they are tested without Ray:

- REST bodies: the size limit from ``Content-Length`` before reading, then while reading;
  ``Content-Encoding`` ``identity`` or ``gzip`` (decompressed here, the decompressed size
  held to the same limit; anything else is refused with 415, bad gzip with 400).
- gRPC messages: the ``application`` metadata key must be set (so a client keeps working
  when a second deployment appears), the size limit, and bytes that are a
  ``PredictRequest`` (the servicer hands them over undecoded, see
  :mod:`ferry_contract.proto`).
- JSON: parsed once, strictly enough that no parser error escapes as a 5xx.

Every refusal is an error of the contract's tree, answered by the router with its status
(REST) or gRPC status (gRPC) and ``code``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

from ferry_contract import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

DEFAULT_MAX_BODY_BYTES = 16 * 2**20
"""Largest predict body (REST, after decompression) or gRPC message (FERRY_SERVE_MAX_BODY_MB)."""
ENCODINGS = ("identity", "gzip")


def _too_large(size: int | str, limit: int, what: str = "request body") -> PayloadTooLarge:
    shown = f"{size:,} bytes" if isinstance(size, int) else size
    return PayloadTooLarge(
        f"the {what} ({shown}) exceeds the data plane's limit of {limit:,} bytes "
        "(FERRY_SERVE_MAX_BODY_MB); split the batch into smaller requests",
        details={"limit_bytes": limit, "size": size})


def check_content_length(headers: Mapping[str, str], limit: int) -> None:
    """Refuse from the ``Content-Length`` header alone, before any byte is read."""
    length = headers.get("content-length")
    if length is None:
        return
    try:
        size = int(length)
    except ValueError:
        raise InvalidRequest(f"Content-Length {length[:40]!r} is not a number of bytes") from None
    if size > limit:
        raise _too_large(size, limit)


def content_encoding(headers: Mapping[str, str]) -> str:
    """The body's encoding: ``identity`` or ``gzip``; anything else is a 415."""
    encoding = (headers.get("content-encoding") or "identity").strip().lower()
    if encoding not in ENCODINGS:
        raise UnsupportedMediaType(
            f"Content-Encoding {encoding[:40]!r} is not supported; send the body "
            "uncompressed or with Content-Encoding: gzip",
            details={"content_encoding": encoding[:40], "supported": list(ENCODINGS)})
    return encoding


async def read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """Read a streamed body, refusing as soon as it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(f"more than {limit:,} bytes", limit)
        parts.append(chunk)
    return b"".join(parts)


def decode_body(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent (``identity``) or gunzipped, held to ``limit`` bytes either way."""
    if encoding == "identity":
        return body
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing only
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as e:
        raise InvalidRequest(
            f"the body is declared Content-Encoding: gzip but is not gzip data ({e}); "
            "compress it with gzip or drop the header") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(f"more than {limit:,} bytes", limit, "decompressed request body")
    if not inflater.eof:
        raise InvalidRequest("the gzip body is truncated: its stream does not end; "
                             "send the whole compressed body")
    if inflater.unused_data:
        raise InvalidRequest("the gzip body has data after the end of its stream; "
                             "send one gzip member")
    return out


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; malformed or absurdly nested JSON is a 400, never a 5xx.

    Depth is bounded by the parser (Python's recursion limit, about 1,000 levels); a
    predict body needs three. ``NaN`` and ``Infinity`` literals parse to floats and are
    refused by the data plane, naming the column and row."""
    try:
        return json.loads(body)
    except RecursionError:
        raise InvalidRequest(
            "the JSON body is nested too deeply to parse; a predict body is "
            '{"inputs": [{"column": value, ...}, ...]}') from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequest(
            f"body is not valid JSON ({e}); send {{\"inputs\": [{{column: value}}, ...]}}"
        ) from None


def application_of(metadata: Iterable[tuple[str, Any]], name: str, key: str) -> str:
    """The ``application`` gRPC metadata value; refuse a call that does not set it.

    HAProxy routes gRPC calls by that key; with one deployment it also forwards calls
    without it, which break as soon as a second deployment exists, so they are refused
    here too, naming the key and the value to send."""
    for k, v in metadata:
        if k == key:
            return str(v)
    raise InvalidRequest(
        f"gRPC metadata {key!r} is missing; send ({key!r}, {name!r}) with each call to "
        f"reach deployment {name!r} (the SDK does this; with raw gRPC pass "
        f"metadata=[({key!r}, {name!r})])",
        details={"metadata_key": key, "deployment": name})


def check_message_size(size: int, limit: int) -> None:
    if size > limit:
        raise _too_large(size, limit, "gRPC message")


GRPC_DETAILS_MAX = 4000
"""gRPC details travel in HTTP/2 trailers (8 KiB by default at the client)."""


def grpc_details(message: str) -> str:
    """``message`` cut to fit a gRPC status; REST answers carry every problem in full."""
    if len(message) <= GRPC_DETAILS_MAX:
        return message
    return message[:GRPC_DETAILS_MAX - 60] + " ... (cut; the REST answer lists every problem)"
