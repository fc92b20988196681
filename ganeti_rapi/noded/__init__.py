"""What runs on every node: procedures behind the node RPC server."""
