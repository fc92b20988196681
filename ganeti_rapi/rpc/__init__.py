"""Node RPC: TLS with pinned cluster certificates, the client on the master and the server on nodes."""
