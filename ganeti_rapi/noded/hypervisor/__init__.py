# -*- test-case-name: tests.test_noded_hypervisor -*-
"""Hypervisors of a node, by name (see L{base.BaseHypervisor})."""

from ganeti_rapi.noded.errors import InvalidArgument


class Hypervisors:
    """The hypervisors one node offers, each made on first use.

    @param factories: C{{name: callable() -> hypervisor}}.
    """

    def __init__(self, factories):
        self._factories = dict(factories)
        self._made = {}

    @property
    def names(self):
        return sorted(self._factories)

    def get(self, name):
        """The hypervisor called C{name}, or L{InvalidArgument}."""
        if not isinstance(name, str) or name not in self._factories:
            raise InvalidArgument(
                f"unknown hypervisor {name!r}; this node has: {', '.join(self.names)}"
            )
        if name not in self._made:
            self._made[name] = self._factories[name]()
        return self._made[name]

    def select(self, names):
        """The hypervisors named in C{names} (all if L{None}), in order."""
        if names is None:
            names = self.names
        elif isinstance(names, str):
            names = [names]
        elif not isinstance(names, list):
            raise InvalidArgument("hypervisors must be a list of names")
        return [self.get(n) for n in dict.fromkeys(names)]

    __call__ = get
