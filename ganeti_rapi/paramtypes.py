"""What type a parameter's value must have, judged by its default.

Ganeti's hypervisor parameters are typed by their defaults: a boolean, an
integer (never a boolean, which Python counts as one) or a string.  The
master checks an instance's parameters with this, and the kvm hypervisor
on a node checks them again before it builds a command line; neither
side imports the other, so the rule lives here.
"""


def same_type(value, default):
    """Whether C{value} has the type of C{default}."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)
