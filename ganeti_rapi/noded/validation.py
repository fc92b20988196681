# -*- test-case-name: tests.test_noded_procedures -*-
"""Checks of procedure arguments, done before any path is built from them."""

import os
import posixpath
import re

from ganeti_rapi.noded.errors import InvalidArgument

#: An instance name: word characters, dots and dashes, not starting with a
#: dot (so never C{.} or C{..}, and never a hidden file).
INSTANCE_NAME = re.compile(r"[\w-][\w.-]*", re.ASCII)

#: Names of LVM volume groups and logical volumes, and OS names.
SIMPLE_NAME = re.compile(r"[\w+][\w.+-]*", re.ASCII)


def instance_name(name):
    """C{name} if it is a valid instance name, else L{InvalidArgument}."""
    if not isinstance(name, str) or not INSTANCE_NAME.fullmatch(name):
        raise InvalidArgument(f"invalid instance name: {name!r}")
    return name


def simple_name(name, what):
    """C{name} if it matches L{SIMPLE_NAME}, else L{InvalidArgument}."""
    if not isinstance(name, str) or not SIMPLE_NAME.fullmatch(name):
        raise InvalidArgument(f"invalid {what}: {name!r}")
    return name


def instance_dict(instance):
    """Check the instance description a procedure was given.

    It must be a JSON object with a valid C{name}; C{hypervisor} defaults
    to C{fake}, and C{beparams}, C{hvparams}, C{osparams} to empty objects,
    C{disks} and C{nics} to empty lists.

    @return: a shallow copy with the defaults filled in.
    """
    if not isinstance(instance, dict):
        raise InvalidArgument("instance must be a JSON object")
    instance = dict(instance)
    instance_name(instance.get("name"))
    instance.setdefault("hypervisor", "fake")
    for key in ("beparams", "hvparams", "osparams"):
        value = instance.get(key)
        if value is None:
            instance[key] = {}
        elif not isinstance(value, dict):
            raise InvalidArgument(f"instance {key} must be a JSON object")
    for key in ("disks", "nics"):
        value = instance.get(key)
        if value is None:
            instance[key] = []
        elif not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidArgument(f"instance {key} must be a list of JSON objects")
    return instance


def int_param(params, key, default, minimum=0):
    """An integer parameter of C{params} (a dict), or C{default}."""
    value = params.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{key} must be an integer >= {minimum}, not {value!r}")
    return value


def relative_path(path, what="path"):
    """C{path} if it is a normalised relative path with no C{..} in it.

    Used before joining client-supplied paths to a base directory; that the
    joined path, symbolic links resolved, stays inside the base is checked
    separately by L{inside} (it needs the file system).
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidArgument(f"invalid {what}: {path!r}")
    if path.startswith("/"):
        raise InvalidArgument(f"{what} must be relative, not absolute: {path!r}")
    parts = path.split("/")
    if ".." in parts:
        raise InvalidArgument(f"{what} must not contain '..': {path!r}")
    if posixpath.normpath(path) != path or path == ".":
        raise InvalidArgument(f"{what} is not normalised: {path!r}")
    return path


def inside(base, path):
    """Whether C{path} resolves (symbolic links followed) to a place under C{base}.

    Blocks on the file system: call it in a thread.
    """
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    return real != real_base and real.startswith(real_base.rstrip("/") + "/")
