"""GeoReport v2 answers as JSON or XML.

The XML is schemaless and without a namespace, as the specification asks; the JSON follows from it by the
Spark convention: a list element becomes an array of its children, a leaf its text, an empty leaf null.
"""

from __future__ import annotations

import json
import re
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi.responses import Response

FORMATS = ("json", "xml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# The element that holds each item of a list, by the list's element.
ITEM_TAGS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
             "values": "value", "endpoints": "endpoint", "formats": "format"}
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _fill(element: Element, value) -> None:
    if isinstance(value, list):
        item = ITEM_TAGS[element.tag]
        for entry in value:
            _fill(SubElement(element, item), entry)
    elif isinstance(value, dict):
        for key, entry in value.items():
            _fill(SubElement(element, key), entry)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _NOT_XML.sub("", str(value))


def to_xml(root: str, data) -> bytes:
    """Write data (a list of items or a dict of fields) as an XML document under the root element."""
    top = Element(root)
    _fill(top, data)
    return (XML_DECLARATION + tostring(top, encoding="unicode")).encode()


def to_json(data) -> bytes:
    """Write data as UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False).encode()


def render(data, *, fmt: str, root: str, status: int = 200) -> Response:
    """Answer with data in the requested format; root names the XML document element."""
    if fmt == "xml":
        return Response(to_xml(root, data), status_code=status, media_type=XML_TYPE)
    return Response(to_json(data), status_code=status, media_type=JSON_TYPE)


def render_errors(status: int, descriptions: list[str], *, fmt: str) -> Response:
    """Answer with the specification's error list; each error's code is the HTTP status."""
    errors = [{"code": status, "description": d} for d in descriptions]
    return render(errors, fmt=fmt if fmt in FORMATS else "json", root="errors", status=status)
