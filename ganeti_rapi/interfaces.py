"""The contract between the HTTP layer and whatever runs the cluster.

The web layer calls an L{ICluster} and nothing else of the engine: that
boundary is what lets another backend (a client of a real Ganeti master,
say) stand behind the same resource tree.  The exceptions below are the
only engine failures the web layer maps to HTTP statuses.
"""

from zope.interface import Attribute, Interface


class ClusterRequestError(Exception):
    """Base of the failures the web layer turns into HTTP errors."""


class InvalidRequest(ClusterRequestError):
    """Parameters of a request are wrong (HTTP 400)."""


class ForbiddenParameter(ClusterRequestError):
    """A parameter may not be changed through the API (HTTP 403)."""


class EntityNotFound(ClusterRequestError):
    """The object named does not exist (HTTP 404)."""


class ClusterUnavailable(ClusterRequestError):
    """The cluster cannot take the request now: queue full or drained (503)."""


class ICluster(Interface):
    """A Ganeti cluster as the RAPI sees it.

    Methods returning data may return it directly or as a Deferred.
    Opcode specifications are C{(op_id, params, static)} triples: C{params}
    come from the client's body, C{static} from the URL and query string and
    may not be overridden by C{params}.
    """

    def features():
        """The optional RAPI features available now, as strings."""

    def info():
        """The cluster information dictionary of C{/2/info}."""

    def query(resource, fields, names=None, qfilter=None):
        """Rows of C{resource} (C{"group"}, C{"node"}, C{"instance"}, C{"job"}, ...).

        @return: (a Deferred of) a list of C{{field: value}} dicts, sorted by
            name; with C{names}, one per name in that order.  The list of a
            whole listing (no C{names}) may be handed to several callers at
            once: it is read-only.
        @raise EntityNotFound: a name in C{names} does not exist.
        @raise InvalidRequest: an unknown resource or bad filter.
        """

    def query_cells(resource, fields, qfilter=None):
        """C{/2/query}: C{{"fields": [descriptors], "data": [[[status, value], ...]]}}
        (read-only, like a whole listing of L{query})."""

    def query_fields(resource, fields=None):
        """C{/2/query/[resource]/fields}: C{{"fields": [descriptors]}}."""

    def list_names(resource):
        """Sorted names (ids for jobs) of every object of C{resource}."""

    def get_tags(kind, name=None):
        """Sorted tags of an object; C{kind} as in C{OP_TAGS_*}.

        @raise EntityNotFound: no such object.
        """

    def instance_console(name):
        """How to reach the console of instance C{name} (C{GET .../console}).

        @return: (a Deferred of) the console dict: C{instance}, C{kind}
            (C{ssh}, C{vnc}, C{spice} or C{message}) and, as the kind needs
            them, C{message}, C{host}, C{port}, C{user}, C{command} (a
            list), C{display}; keys without a value are left out.
        @raise EntityNotFound: no such instance.
        @raise ClusterUnavailable: the instance is not running.
        """

    def submit(opcodes):
        """Queue one job of C{opcodes} (specification triples).

        @return: a Deferred firing with the integer job id once the job is
            on disk.
        @raise InvalidRequest: an opcode's parameters are wrong.
        @raise ClusterUnavailable: the queue takes no jobs now.
        """

    def job(job_id, fields):
        """The C{fields} of a job as a dict (Deferred), or L{None} if unknown."""

    def wait_for_job_change(job_id, fields, previous_job_info, previous_log_serial):
        """A cancellable Deferred: C{{"job_info", "log_entries"}} on a change.

        Fires with L{None} for an unknown job.  Never times out by itself.
        """

    def cancel_job(job_id):
        """Cancel a job: a Deferred of C{[success, message]}."""

    def replace_filter(uuid, priority, predicates, action, reason):
        """Add a job filter rule (C{uuid} L{None}) or replace or create rule C{uuid}.

        Filter rules are read through L{query} (resource C{"filter"}).

        @return: (a Deferred of) the rule's UUID, once it is stored.
        @raise InvalidRequest: a part of the rule is malformed.
        """

    def delete_filter(uuid):
        """Delete job filter rule C{uuid}; (a Deferred of) L{None}.

        @raise EntityNotFound: there is no such rule.
        """

    clock = Attribute("The IReactorTime the cluster uses.")
