"""Administrator commands that act on a data directory."""
