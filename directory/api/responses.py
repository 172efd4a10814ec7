"""Answers built from the index's pre-serialised person objects: joining bytes, not re-encoding."""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.responses import Response

from directory.search.service import Found

__all__ = ["json_response", "people_body"]


def json_response(body: bytes | object, status: int = 200) -> Response:
    """A JSON answer from bytes already encoded, or from a value to encode."""
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return Response(data, status_code=status, media_type="application/json")


def people_body(found: Sequence[Found]) -> bytes:
    """``{"results": [person, ...]}`` from the stored fragments."""
    if found and all(f.index is found[0].index for f in found):
        parts = found[0].index.payloads_of([f.idx for f in found])  # one gather, not one per person
    else:
        parts = [f.payload for f in found]
    return b'{"results":[' + b",".join(parts) + b"]}"
