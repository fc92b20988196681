"""Conformance with real clients that none of us wrote.

Each module drives a real C{ganeti-rapi} (with real node daemons) with one
client, unchanged, as its users run it: Ganeti's official client from
Debian's C{python3-ganeti-rapi}, htools from C{ganeti-htools},
C{gnt-monitoring} from PyPI and C{ganeti-watcher}'s liveness probe.  Every
test prints per client what passed and what failed and fails on any
failure; a client that cannot be installed fails the test with the reason.
See C{doc/clients.rst}.
"""
