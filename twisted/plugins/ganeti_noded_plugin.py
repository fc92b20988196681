"""The C{twistd ganeti-noded} plugin; everything else is imported on use."""

from twisted.application.service import ServiceMaker

ganeti_noded = ServiceMaker(
    "Ganeti node daemon",
    "ganeti_rapi.noded_tap",
    "Ganeti node daemon: node RPC over mutual TLS with the cluster certificate.",
    "ganeti-noded",
)
