"""The HTTP side: the RAPI resource tree, one module per family of URIs."""
