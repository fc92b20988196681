"""Where the daemons keep their state when no option says otherwise."""

import os

from ganeti_rapi import constants


def default_data_dir(environ=None, uid=None):
    """The data directory used when C{--data-dir} is not given.

    Root gets the system location an operator backs up; anybody else gets a
    directory under C{$XDG_DATA_HOME}, so a first try needs no privileges.
    """
    environ = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    if uid == 0:
        return "/var/lib/ganeti-rapi"
    base = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "ganeti-rapi")


class DataDir:
    """The files of one data directory, by role.

    Only this class joins names to the data directory, so no other module
    builds file paths of its own.
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def rapi_cert(self):
        return self.join(constants.RAPI_CERT_FILE)

    @property
    def cluster_cert(self):
        return self.join(constants.CLUSTER_CERT_FILE)

    @property
    def users_file(self):
        return self.join(constants.USERS_FILE)

    def ensure(self):
        """Create the directory (mode 0750) if it is missing."""
        os.makedirs(self.path, mode=0o750, exist_ok=True)
        return self
