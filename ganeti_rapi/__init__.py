"""ganeti-rapi: the Ganeti Remote API (RAPI v2) and its cluster engine, on Twisted."""

__version__ = "0.1.0"
