"""Probe a RAPI server the way ganeti-watcher does, with Ganeti's own client.

Run with Debian's interpreter (C{python3-ganeti-rapi})::

    /usr/bin/python3 tests/conformance/watcher_probe.py --port 5080 [--info]
        [--user NAME --password PASSWORD]

C{ganeti-watcher} builds the official client with a default curl
configuration (no certificate verification) and no credentials, and calls
C{GetVersion()}: the daemon is alive when the answer is 2 (newer watchers
also take a 401 as alive); anything else gets it restarted.  This prints
C{version <answer>}, with C{--info} also C{info <cluster name>}, or
C{error <HTTP status>: <message>} / C{certificate-error: <message>}, and
exits 0 if every call succeeded.
"""

import argparse
import sys

import pycurl
from ganeti.rapi import client as rapi


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--info", action="store_true",
                        help="also read /2/info, as a contrast to /version")
    parser.add_argument("--user")
    parser.add_argument("--password")
    options = parser.parse_args(argv)
    pycurl.global_init(pycurl.GLOBAL_ALL)
    client = rapi.GanetiRapiClient(
        options.host, port=options.port, username=options.user,
        password=options.password, curl_config_fn=rapi.GenericCurlConfig())
    calls = [("version", client.GetVersion)]
    if options.info:
        calls.append(("info", lambda: client.GetInfo()["name"]))
    status = 0
    for name, call in calls:
        try:
            print("%s %s" % (name, call()))
        except rapi.CertificateError as e:
            print("certificate-error: %s" % (e,))
            status = 1
        except rapi.GanetiApiError as e:
            print("error %s: %s" % (e.code, e))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
