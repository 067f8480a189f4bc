"""Request-body parsers that refuse hostile bodies before they cost memory or a 500.

DRF's own parsers read any body whole and hand `json.loads` whatever it gets: a body
nested thousands deep raised RecursionError, a 400-digit integer or `1e999` reached the
services as numbers no float can hold, and a lone surrogate (`"\\ud800"`) reached the
database and the JSON renderer, which cannot encode it (all 500s). These parsers
(REST_FRAMEWORK's DEFAULT_PARSER_CLASSES) refuse, in the API's error shape:

- a body larger than `CONCORD_MAX_BODY_BYTES` (JSON and forms) or, for multipart,
  than the parser's `max_bytes`: 413 `body_too_large`, judged from Content-Length
  before anything is read and again while reading;
- JSON nested deeper than `MAX_DEPTH`, integers longer than `MAX_INT_DIGITS` digits,
  non-finite numbers (`NaN`, `Infinity`, `-Infinity`, `1e999`), strings or keys with
  a lone surrogate, text that is not UTF-8: 400 `parse_error` with a sentence
  naming the problem.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import QueryDict
from rest_framework import renderers
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, MultiPartParser

MAX_DEPTH = 32
MAX_INT_DIGITS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyTooLarge(APIException):
    status_code = 413
    default_detail = "the request body is too large"
    default_code = "body_too_large"


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"the request body is too large (the limit is {_size(limit)})", code="body_too_large"
    )


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:g} MiB"
    if n >= 2**10:
        return f"{n / 2**10:g} KiB"
    return f"{n} bytes"


def content_length(parser_context: Mapping[str, Any] | None) -> int | None:
    """The request's declared Content-Length, or None when it has none (or a bad one)."""
    request = (parser_context or {}).get("request")
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or meta.get("HTTP_CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _read_bounded(stream: Any, parser_context: Mapping[str, Any] | None, limit: int) -> bytes:
    declared = content_length(parser_context)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return bytes(raw)


def _body_limit() -> int:
    return int(settings.CONCORD_MAX_BODY_BYTES)


def _encoding(parser_context: Mapping[str, Any] | None) -> str:
    return str((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is out of range: numbers must be finite")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _check_tree(data: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings holding lone surrogates."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                raise ParseError(
                    "JSON parse error - a string holds a lone surrogate (invalid Unicode)",
                    code="parse_error",
                )
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise ParseError(
                    f"JSON parse error - nested deeper than {MAX_DEPTH} levels", code="parse_error"
                )
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)
                stack.extend((value, depth + 1) for value in node.values())
            else:
                stack.extend((value, depth + 1) for value in node)


def json_loads_safe(raw: bytes, encoding: str = "utf-8") -> Any:
    """`raw` as JSON, or ParseError naming what makes it unacceptable."""
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise ParseError(f"JSON parse error - the body is not valid {encoding}") from None
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise ParseError(
            f"JSON parse error - nested deeper than {MAX_DEPTH} levels", code="parse_error"
        ) from None
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}", code="parse_error") from None
    _check_tree(data)
    return data


class SafeJSONParser(BaseParser):
    """JSON, bounded in size, depth and number sizes, finite, valid Unicode.

    Not a subclass of DRF's JSONParser on purpose: DRF reads a JSONParser's whole body
    through `request.body` first, whatever its size; this parser reads at most the limit.
    """

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = _read_bounded(stream, parser_context, _body_limit())
        return json_loads_safe(raw, _encoding(parser_context))


class SafeFormParser(BaseParser):
    """URL-encoded forms, bounded in size (fields are counted by Django's QueryDict)."""

    media_type = "application/x-www-form-urlencoded"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> QueryDict:
        raw = _read_bounded(stream, parser_context, _body_limit())
        encoding = _encoding(parser_context)
        try:
            raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"form parse error - the body is not valid {encoding}") from None
        return QueryDict(raw, encoding=encoding)


class SafeMultiPartParser(MultiPartParser):
    """Multipart forms whose declared size is at most `max_bytes()`.

    Django's multipart parser reads no further than Content-Length, so judging the
    declared length bounds the read; file parts go to temporary files beyond
    FILE_UPLOAD_MAX_MEMORY_SIZE.
    """

    def max_bytes(self) -> int:
        return _body_limit()

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        limit = self.max_bytes()
        declared = content_length(parser_context)
        if declared is not None and declared > limit:
            raise _too_large(limit)
        return super().parse(stream, media_type, parser_context)


class UploadMultiPartParser(SafeMultiPartParser):
    """Audio uploads: a whole request up to CONCORD_MAX_UPLOAD_REQUEST_BYTES."""

    def max_bytes(self) -> int:
        return int(settings.CONCORD_MAX_UPLOAD_REQUEST_BYTES)
