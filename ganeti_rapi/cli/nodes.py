# -*- test-case-name: tests.test_membership -*-
"""``ganeti-rapi-admin node ...`` and ``cluster-cert ...``: joining nodes.

A node joins in three steps, none of which needs SSH:

 1. on the master, ``ganeti-rapi-admin cluster-cert export FILE`` writes the
    cluster certificate (key and certificate) to a file, which reaches the
    new node by whatever channel the operator trusts;
 2. on the node, ``ganeti-rapi-admin cluster-cert import FILE`` installs it in
    the node's data directory, and ``twistd ganeti-noded`` is started;
 3. on the master, ``ganeti-rapi-admin node add NAME --ip ADDRESS`` asks the
    running master to add the node; the master first calls the node daemon,
    and only a daemon holding the cluster certificate can answer.
"""

import socket

from ganeti_rapi import certs, paths
from ganeti_rapi.cli.control import ControlClient, ControlError
from ganeti_rapi.fileutil import atomic_write


class CommandFailed(Exception):
    """The command failed; the message says why."""


def add_commands(commands, fail):
    """Add the C{node} and C{cluster-cert} commands to an argparse parser."""
    node = commands.add_parser("node", help="add, remove or list cluster nodes")
    node.add_argument(
        "--control-socket", metavar="PATH",
        help="the master's control socket (default: master.sock in the data directory)",
    )
    actions = node.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a node whose daemon holds the certificate")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--ip", help="primary IP address (default: resolve NAME)")
    add.add_argument("--secondary-ip", help="secondary IP address")
    add.add_argument("--port", type=int, default=1811, help="node daemon port (1811)")
    add.add_argument("--group", help="node group (default: the master's)")
    add.add_argument("--master-capable", choices=["yes", "no"])
    add.add_argument("--vm-capable", choices=["yes", "no"])
    add.set_defaults(run=_wrap(_node_add, fail))
    remove = actions.add_parser("remove", help="remove a node")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=_wrap(_node_remove, fail))
    listing = actions.add_parser("list", help="list nodes")
    listing.set_defaults(run=_wrap(_node_list, fail))

    cert = commands.add_parser("cluster-cert", help="export or import the cluster certificate")
    actions = cert.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    export = actions.add_parser("export", help="write the cluster certificate to FILE")
    export.add_argument("file", metavar="FILE")
    export.set_defaults(run=_wrap(_cert_export, fail))
    imp = actions.add_parser("import", help="install a cluster certificate on this node")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--force", action="store_true", help="replace an existing one")
    imp.set_defaults(run=_wrap(_cert_import, fail))
    show = actions.add_parser("show", help="print the cluster certificate's digest")
    show.set_defaults(run=_wrap(_cert_show, fail))


def _wrap(command, fail):
    def run(args, stdin, stdout, stderr):
        try:
            command(args, stdout)
        except (ControlError, CommandFailed) as e:
            raise fail(str(e))

    return run


def _control(args):
    return ControlClient(args.data_dir, path=args.control_socket)


def _yes(value):
    return None if value is None else value == "yes"


def _print_job(job, stdout):
    for entries in job.get("oplog") or []:
        for entry in entries:
            stdout.write("  %s\n" % (entry[3],))
    if job["status"] != "success":
        results = [r for r in job["opresult"] if r]
        detail = results[0] if results else job["status"]
        if isinstance(detail, list) and len(detail) == 2 and isinstance(detail[1], list):
            detail = "%s: %s" % (detail[0], "; ".join(str(a) for a in detail[1]))
        raise CommandFailed("job %d %s: %s" % (job["id"], job["status"], detail))


def _node_add(args, stdout):
    address = args.ip
    if address is None:
        try:
            address = socket.gethostbyname(args.name)
        except OSError as e:
            raise CommandFailed("cannot resolve %s: %s; give --ip" % (args.name, e))
    params = {
        "node_name": args.name,
        "primary_ip": address,
        "secondary_ip": args.secondary_ip,
        "rpc_port": args.port,
        "group": args.group,
        "master_capable": _yes(args.master_capable),
        "vm_capable": _yes(args.vm_capable),
    }
    job = _control(args).run("OP_NODE_ADD", params)
    _print_job(job, stdout)
    stdout.write("Added node %s (%s:%d)\n" % (args.name, address, args.port))


def _node_remove(args, stdout):
    job = _control(args).run("OP_NODE_REMOVE", {"node_name": args.name})
    _print_job(job, stdout)
    stdout.write("Removed node %s\n" % (args.name,))


def _node_list(args, stdout):
    rows = _control(args).request(
        "query", resource="node", fields=["name", "pip", "role", "group"]
    )
    for row in rows:
        stdout.write("%s %s %s %s\n" % (row["name"], row["pip"], row["role"], row["group"]))


def _cert_export(args, stdout):
    source = paths.DataDir(args.data_dir).cluster_cert
    try:
        pair = certs.load(source)
    except (OSError, ValueError) as e:
        raise CommandFailed("cannot read the cluster certificate %s: %s" % (source, e))
    atomic_write(args.file, pair.pem(), mode=0o600)
    stdout.write("Wrote the cluster certificate (sha256 %s) to %s\n"
                 % (pair.digest(), args.file))


def _cert_import(args, stdout):
    try:
        pair = certs.load(args.file)
    except (OSError, ValueError) as e:
        raise CommandFailed("%s holds no key and certificate: %s" % (args.file, e))
    data_dir = paths.DataDir(args.data_dir).ensure()
    target = data_dir.cluster_cert
    try:
        current = certs.load(target)
    except (OSError, ValueError):
        current = None
    if current is not None and current.digest() != pair.digest() and not args.force:
        raise CommandFailed(
            "%s already holds another cluster's certificate; use --force to replace it"
            % target
        )
    atomic_write(target, pair.pem(), mode=0o600)
    stdout.write("Installed the cluster certificate (sha256 %s) in %s\n"
                 % (pair.digest(), target))


def _cert_show(args, stdout):
    path = paths.DataDir(args.data_dir).cluster_cert
    try:
        pair = certs.load(path)
    except (OSError, ValueError) as e:
        raise CommandFailed("cannot read %s: %s" % (path, e))
    stdout.write("%s sha256 %s\n" % (path, pair.digest()))
