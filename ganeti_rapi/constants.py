"""Numbers and names that must match Ganeti's, collected in one place.

Clients and scripts compare against these literally (the realm goes into the
HA1 hash, the port into every client's default URL), so they are not options.
"""

#: The RAPI version served at ``/version``.
RAPI_VERSION = 2

#: Default TCP ports of the two daemons.
DEFAULT_RAPI_PORT = 5080
DEFAULT_NODED_PORT = 1811

#: The HTTP Basic realm; it is also part of the ``{HA1}`` password hash.
RAPI_REALM = "Ganeti Remote API"

#: Access options a user may hold in the users file.
ACCESS_WRITE = "write"
ACCESS_READ = "read"

#: Largest request body accepted (Ganeti master's limit), in bytes.
MAX_REQUEST_BODY = 10 * 1024 * 1024

#: Seconds an idle keep-alive connection is kept open.
DEFAULT_IDLE_TIMEOUT = 60

#: File names inside the data directory.
RAPI_CERT_FILE = "rapi.pem"
CLUSTER_CERT_FILE = "server.pem"
USERS_FILE = "rapi/users"
