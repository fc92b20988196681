# -*- test-case-name: tests.test_tap -*-
"""Listening endpoints from options, with TLS 1.2 or newer wherever we do TLS.

Twisted's own C{ssl:} endpoint parser takes Twisted's default TLS floor,
which is TLS 1.0 on Debian bookworm's Twisted 22.4.  So C{ssl:}
descriptions are read here and served with our TLS options; every other
kind (C{tcp:}, C{unix:}, C{systemd:} ...) goes to C{serverFromString}.
"""

from twisted.internet import endpoints

from ganeti_rapi import certs, tls


def split_description(description):
    """Split an endpoint description into C{(kind, args, kwargs)}.

    Colons separate fields, C{=} separates a keyword from its value, and a
    backslash escapes either, as in Twisted's endpoint strings.
    """
    fields, current, escaped = [], [], False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    kind, rest = fields[0], fields[1:]
    args, kwargs = [], {}
    for field in rest:
        key, eq, value = field.partition("=")
        if eq:
            kwargs[key] = value
        else:
            args.append(field)
    return kind, args, kwargs


def quote(value):
    """Escape C{value} for use inside an endpoint description."""
    return endpoints.quoteStringArgument(str(value))


def is_tls(description):
    return description.split(":", 1)[0] == "ssl"


def ssl_server_endpoint(reactor, description):
    """An SSL endpoint for an C{ssl:PORT:privateKey=...:certKey=...} description."""
    kind, args, kwargs = split_description(description)
    if kind != "ssl":
        raise ValueError("not an ssl: endpoint description: %r" % (description,))
    port = int(kwargs.pop("port", None) or (args[0] if args else "443"))
    key_path = kwargs.pop("privateKey", None)
    cert_path = kwargs.pop("certKey", None) or key_path
    if key_path is None:
        raise ValueError("ssl: endpoint needs privateKey=")
    chain_path = kwargs.pop("extraCertChain", None)
    pair = certs.load((key_path, cert_path))
    chain = certs.load_chain(chain_path) if chain_path else ()
    options = tls.certificate_options(pair, extra_chain=chain)
    return endpoints.SSL4ServerEndpoint(
        reactor,
        port,
        options,
        backlog=int(kwargs.pop("backlog", 50)),
        interface=kwargs.pop("interface", ""),
    )


def server_endpoint(reactor, description):
    """An endpoint for any description; see the module docstring."""
    if is_tls(description):
        return ssl_server_endpoint(reactor, description)
    return endpoints.serverFromString(reactor, description)
