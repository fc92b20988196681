# -*- test-case-name: tests.test_tags -*-
"""Tag rules: what a tag may look like and how many an object may carry.

The rules and messages are Ganeti's, so a tag accepted here is accepted by a
Ganeti cluster and the other way round.
"""

import re

from ganeti_rapi.engine.errors import TagError

#: Longest tag, in characters.
MAX_TAG_LEN = 128

#: Most tags one object may carry.
MAX_TAGS_PER_OBJ = 4096

_TAG_RE = re.compile(r"[\w.+*/:@-]+")


def validate_tag(tag):
    """Check one tag.

    @raise TagError: if C{tag} is not a string, is empty, longer than
        L{MAX_TAG_LEN} characters or contains characters other than letters,
        digits and C{_ . + * / : @ -}.
    """
    if not isinstance(tag, str):
        raise TagError("Invalid tag type (not a string)")
    if len(tag) > MAX_TAG_LEN:
        raise TagError("Tag too long (>%d characters)" % MAX_TAG_LEN)
    if not tag:
        raise TagError("Tags cannot be empty")
    # fullmatch: "$" would also accept a trailing newline.
    if not _TAG_RE.fullmatch(tag):
        raise TagError("Tag contains invalid characters")


def validate_tags(tags, existing=()):
    """Check every tag in C{tags}, and that C{existing} plus them fit.

    @param existing: the tags the object already has.
    @return: the tags as a set.
    @raise TagError: if a tag is invalid or the object would carry more than
        L{MAX_TAGS_PER_OBJ} tags.
    """
    if isinstance(tags, (str, bytes)) or not hasattr(tags, "__iter__"):
        raise TagError("Invalid tag list (not a list)")
    result = set()
    for tag in tags:
        validate_tag(tag)
        result.add(tag)
    if len(result | set(existing)) > MAX_TAGS_PER_OBJ:
        raise TagError("Too many tags")
    return result
