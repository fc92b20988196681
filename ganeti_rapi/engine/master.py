# -*- test-case-name: tests.test_web_cluster -*-
"""Assembling the master's engine from a data directory.

L{open_engine} loads (or, on the very first start, creates) the
configuration, opens the job queue with its crash recovery, and wires the
lock manager, the job processor and the cluster object together.  The
daemon's tap adds the services it returns to its service tree; tests call
it with a C{Clock} and a synchronous thread runner.
"""

import os
import socket

from twisted.application import service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorProcess
from twisted.logger import Logger

from ganeti_rapi.engine import opcodes, units
from ganeti_rapi.engine.cluster import EngineCluster, EngineEnvironment
from ganeti_rapi.engine.config import ConfigMissing, ConfigStore
from ganeti_rapi.engine.distribution import ConfigDistributor
from ganeti_rapi.engine.hostnames import NameChecks
from ganeti_rapi.engine.iallocator import AllocatorRunner
from ganeti_rapi.engine.locks import LockManager
from ganeti_rapi.engine.noderpc import NodeRunner
from ganeti_rapi.engine.processor import JobProcessor
from ganeti_rapi.engine.queue import ArchiverService, JobQueue

log = Logger()

CONFIG_FILE = "config.data"
QUEUE_DIR = "queue"
FILE_STORAGE_DIR = "file-storage"


class Engine:
    """The parts of a running engine.

    @ivar cluster: the L{EngineCluster} the web layer uses.
    @ivar service: a C{MultiService} running the processor and archiver.
    @ivar nodes: the L{NodeRunner}, if nodes can be reached.
    """

    def __init__(self, config, queue, locks, processor, cluster, service, nodes=None):
        self.nodes = nodes
        self.config = config
        self.queue = queue
        self.locks = locks
        self.processor = processor
        self.cluster = cluster
        self.service = service


def default_names():
    """The cluster and node names of the embedded default, from the host."""
    node = socket.gethostname() or "localhost"
    cluster = socket.getfqdn() or node
    return cluster, node


def load_or_create_config(data_dir, clock, run_in_thread=None, node_cert_digest=None):
    """The configuration of C{data_dir}; a single-node cluster if there is none.

    A corrupt or unreadable file stops here with L{ConfigCorrupt}; it is
    never replaced.
    """
    store = ConfigStore(os.path.join(data_dir, CONFIG_FILE), clock, run_in_thread)
    try:
        store.load()
    except ConfigMissing:
        cluster_name, node_name = default_names()
        store.create_default(
            cluster_name=cluster_name,
            node_name=node_name,
            node_ip="127.0.0.1",
            rpc_port=1811,
            node_cert_digest=node_cert_digest,
            file_storage_dir=os.path.join(data_dir, FILE_STORAGE_DIR),
        )
        log.info(
            "Created a single-node cluster {cluster} in {path}",
            cluster=cluster_name,
            path=store.path,
        )
    return store


class JobSubmitter:
    """Lets a unit queue further jobs (node evacuation spawns one per instance).

    Called with a list of jobs, each a list of complete opcode dicts; the
    answer is a Deferred of C{[[True, job id] or [False, message], ...]} in
    the same order, Ganeti's C{{"jobs": ...}} result shape.
    """

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, jobs):
        submissions = []
        for ops in jobs:
            d = self.processor.submit(list(ops))
            d.addCallbacks(
                lambda job_id: [True, job_id],
                lambda failure: [False, failure.getErrorMessage()],
            )
            submissions.append(d)
        return defer.gatherResults(submissions)


def open_engine(
    data_dir, clock, run_in_thread=None, max_running=20, rpc_client=None,
    node_cert_digest=None, node_runner=None, process_reactor=None, resolve=None,
    ip_check_port=None,
):
    """Load everything from C{data_dir} and wire the engine; see the module.

    @param rpc_client: a L{NodeRpcClient} to reach node daemons, or L{None}
        for an engine that reaches no node (live fields are then null).
    @param node_runner: an object with L{NodeRunner}'s C{call}, C{run} and
        C{call_nodes} used instead of one built on C{rpc_client} (tests
        stand in for node daemons this way).
    @param process_reactor: a reactor that spawns external instance
        allocators; the clock, when it can spawn processes, by default.
    @param resolve: how C{name_check} resolves names (see L{NameChecks});
        the system resolver by default.
    @param ip_check_port: the port C{ip_check} connects to (1811 by default).
    """
    config = load_or_create_config(data_dir, clock, run_in_thread, node_cert_digest)
    nodes = node_runner
    if nodes is None and rpc_client is not None:
        nodes = NodeRunner(rpc_client, config)
    if nodes is not None:
        config.add_listener(ConfigDistributor(config, nodes))
    queue = JobQueue(
        os.path.join(data_dir, QUEUE_DIR),
        clock,
        run_in_thread=run_in_thread,
        summarize=opcodes.summarize,
    )
    queue.open()
    locks = LockManager()
    environment = EngineEnvironment(config, clock, nodes,
                                    NameChecks(resolve, port=ip_check_port))
    processor = JobProcessor(
        queue, locks, units.unit_factory, environment, clock, max_running=max_running,
        filter_rules=config.filters,
    )
    environment.submit_jobs = JobSubmitter(processor)
    if process_reactor is None and IReactorProcess.providedBy(clock):
        process_reactor = clock
    environment.iallocators = None
    if process_reactor is not None:
        environment.iallocators = AllocatorRunner(process_reactor, run_in_thread)
    cluster = EngineCluster(config, queue, processor, clock, nodes)
    top = service.MultiService()
    processor.setServiceParent(top)
    ArchiverService(queue, clock).setServiceParent(top)
    return Engine(config, queue, locks, processor, cluster, top, nodes)
