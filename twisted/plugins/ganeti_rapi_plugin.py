"""The C{twistd ganeti-rapi} plugin; the daemon itself is L{ganeti_rapi.tap}.

Kept import-light: Twisted imports every plugin file when it scans for
plugins, so nothing here may touch the reactor or OpenSSL.
"""

from twisted.application.service import ServiceMaker

ganeti_rapi = ServiceMaker(
    "Ganeti RAPI",
    "ganeti_rapi.tap",
    "Ganeti Remote API (RAPI v2) server and cluster master.",
    "ganeti-rapi",
)
