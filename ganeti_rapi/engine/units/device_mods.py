# -*- test-case-name: tests.test_instance_changes -*-
"""Disk and NIC modifications in Ganeti's list forms, shared by the disk
(L{disk_changes}) and NIC (L{nic_changes}) parts of
C{OP_INSTANCE_SET_PARAMS}: which operation, on which existing item or at
which position, and the name rules both kinds of device follow.
"""

import re

from ganeti_rapi.engine.errors import ECODE_INVAL, ECODE_NOTUNIQUE, OpPrereqError

#: Operations of disk and NIC modifications.
DDM_ADD = "add"
DDM_MODIFY = "modify"
DDM_REMOVE = "remove"


def none_value(value):
    """Ganeti's C{"none"} string (any case) as None."""
    if isinstance(value, str) and value.lower() == "none":
        return None
    return value


def upgrade_mods(kind, mods):
    """Modifications as C{[(op, identifier, params)]}.

    The old form C{[op, params]} (C{op} C{"add"}, C{"remove"} or an index
    to modify) allows one addition or removal per request, as in Ganeti;
    the new form C{[op, identifier, params]} any number.
    """
    if not mods:
        return []
    lengths = {len(mod) for mod in mods}
    if len(lengths) != 1:
        raise OpPrereqError(
            "%s modifications mix the forms [op, params] and [op, identifier,"
            " params]" % kind, ECODE_INVAL,
        )
    result = []
    if lengths == {2}:
        add_remove = 0
        for op, params in mods:
            if op in (DDM_ADD, DDM_REMOVE):
                add_remove += 1
                if add_remove > 1:
                    raise OpPrereqError(
                        "Only one %s add or remove operation is supported at a time"
                        % kind, ECODE_INVAL,
                    )
                result.append((op, -1, dict(params)))
            else:
                result.append((DDM_MODIFY, op, dict(params)))
        return result
    for op, identifier, params in mods:
        if op not in (DDM_ADD, DDM_MODIFY, DDM_REMOVE):
            raise OpPrereqError("Invalid %s operation '%s' (expected add, modify or"
                                " remove)" % (kind, op), ECODE_INVAL)
        result.append((op, identifier, dict(params)))
    return result


def _as_index(identifier):
    if isinstance(identifier, bool):
        return None
    if isinstance(identifier, int):
        return identifier
    if isinstance(identifier, str) and re.match(r"^-?[0-9]+$", identifier):
        return int(identifier)
    return None


def item_index(kind, identifier, items):
    """The position of an existing disk or NIC: an index (-1 is the last),
    a name or a uuid."""
    index = _as_index(identifier)
    if index is not None:
        if index == -1 and items:
            return len(items) - 1
        if 0 <= index < len(items):
            return index
        raise OpPrereqError(
            "Got %s index %s, but there are only %d" % (kind, identifier, len(items)),
            ECODE_INVAL,
        )
    for position, item in enumerate(items):
        if identifier in (item.name, item.uuid):
            return position
    raise OpPrereqError("Cannot find %s with identifier %s" % (kind, identifier),
                        ECODE_INVAL)


def removal_index(kind, identifier, params, items):
    """The position of the disk or NIC a removal names; a removal takes no
    settings."""
    if params:
        raise OpPrereqError("No settings should be passed when removing a %s" % kind,
                            ECODE_INVAL)
    return item_index(kind, identifier, items)


def insert_index(kind, identifier, items):
    """Where an added disk or NIC goes: an index up to the count, -1 for the end."""
    index = _as_index(identifier)
    if index == -1:
        return len(items)
    if index is None or not 0 <= index <= len(items):
        raise OpPrereqError(
            "Invalid %s index %s for an addition (0 to %d, or -1)"
            % (kind, identifier, len(items)), ECODE_INVAL,
        )
    return index


def check_unique_names(kind, items):
    """Refuse two disks (or two NICs) of an instance with the same name."""
    seen = set()
    for item in items:
        if item.name is None:
            continue
        if item.name in seen:
            raise OpPrereqError("Duplicated %s name: %s" % (kind, item.name),
                                ECODE_NOTUNIQUE)
        seen.add(item.name)
