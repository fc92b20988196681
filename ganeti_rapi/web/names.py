"""What a name or id in a URI may look like, as Ganeti's routing allows.

Names of nodes, instances, groups and networks match C{[\\w._-]+}; job ids
and disk indices are decimal digits.  Anything else is a 404 before any
lookup, so no request text reaches a file name or a query unchecked.
"""

import re

_NAME = re.compile(r"[\w._-]+\Z")
_NUMBER = re.compile(r"[0-9]+\Z")


def parse_name(segment):
    """The name in a path segment (bytes), or L{None} if it is not one."""
    try:
        text = segment.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _NAME.match(text):
        return text
    return None


def parse_number(segment):
    """The integer in a path segment of decimal digits, or L{None}."""
    if _NUMBER.match(segment.decode("ascii", "replace")):
        return int(segment)
    return None
