"""The administrator's side of the master's control socket (blocking I/O).

See L{ganeti_rapi.control} for the protocol.
"""

import json
import os
import socket

CONTROL_SOCKET = "master.sock"


class ControlError(Exception):
    """The master refused a request, or could not be reached."""


class ControlClient:
    """A connection to the master daemon of a data directory."""

    def __init__(self, data_dir, timeout=600, path=None):
        self.path = path or os.path.join(data_dir, CONTROL_SOCKET)
        self.timeout = timeout

    def request(self, method, **params):
        params["method"] = method
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(json.dumps(params).encode("utf-8") + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as e:
            raise ControlError(
                "cannot reach the master daemon at %s (is ganeti-rapi running with this"
                " data directory?): %s" % (self.path, e)
            )
        answer = json.loads(data.decode("utf-8"))
        if not answer.get("ok"):
            raise ControlError(answer.get("error") or "request failed")
        return answer["result"]

    def run(self, op_id, params):
        """Submit one opcode and wait for its job; the finished job."""
        job_id = self.request("submit", ops=[[op_id, params]])
        return self.request("wait", id=job_id)
