"""The one place that turns Python values into JSON bytes and back.

orjson is used where it is installed (it encodes a 100-instance bulk listing
an order of magnitude faster); the standard library otherwise, because
Debian bookworm does not package orjson.  Decoding is lenient as Ganeti's
is: any JSON value is a valid document, including a bare string, number or
``null``, and also ``NaN``/``Infinity`` which only the stdlib understands.
"""

import json

try:
    import orjson
except ImportError:  # pragma: no cover - depends on the installation
    orjson = None


class JSONDecodeError(ValueError):
    """The bytes given are not a JSON document."""


if orjson is not None:

    def dumps(value):
        """Encode C{value} as compact JSON bytes ending in a newline."""
        return orjson.dumps(value, option=orjson.OPT_APPEND_NEWLINE)

else:  # pragma: no cover - exercised on the Debian lane

    _encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

    def dumps(value):
        """Encode C{value} as compact JSON bytes ending in a newline."""
        return (_encoder.encode(value) + "\n").encode("utf-8")


def loads(data):
    """Decode one JSON document from C{data} (bytes or str).

    @raise JSONDecodeError: if C{data} is not valid UTF-8 JSON.
    """
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the stdlib also knows NaN and Infinity; let it decide
    try:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise JSONDecodeError(str(e)) from None


def dumps_text(value, indent=None):
    """Encode C{value} as human-readable JSON text (sorted keys), for files.

    With orjson the text is indented by two spaces whatever C{indent} says
    (orjson knows no other width); the stdlib's indented output runs
    without its C accelerator and costs 40 times more for a large
    configuration.
    """
    if orjson is not None and indent is not None:
        return orjson.dumps(
            value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
        ).decode("utf-8")
    return json.dumps(value, indent=indent, sort_keys=True) + "\n"
