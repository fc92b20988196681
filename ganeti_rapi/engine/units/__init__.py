"""Logical units, one per opcode; L{unit_factory} picks the unit for an opcode."""

from ganeti_rapi.engine.errors import ECODE_INVAL, OpPrereqError
from ganeti_rapi.engine.units import (
    backup,
    cluster,
    debug,
    disk_activation,
    disks,
    groups,
    imports,
    instance_changes,
    instances,
    membership,
    migration,
    multi_alloc,
    networks,
    nodes,
    reinstall,
    tags,
)
from ganeti_rapi.engine.units import os as os_units

#: OP_ID -> unit class (or factory of units), for every opcode this engine
#: can carry out.
UNITS = {
    "OP_TAGS_SET": tags.TagsSet,
    "OP_TAGS_DEL": tags.TagsDel,
    "OP_GROUP_ADD": groups.GroupAdd,
    "OP_GROUP_REMOVE": groups.GroupRemove,
    "OP_GROUP_RENAME": groups.GroupRename,
    "OP_GROUP_SET_PARAMS": groups.GroupSetParams,
    "OP_GROUP_ASSIGN_NODES": groups.GroupAssignNodes,
    "OP_CLUSTER_REDIST_CONF": cluster.ClusterRedistConf,
    "OP_CLUSTER_SET_PARAMS": cluster.ClusterSetParams,
    "OP_INSTANCE_CREATE": imports.create_unit,
    "OP_INSTANCE_REMOVE": instances.InstanceRemove,
    "OP_INSTANCE_STARTUP": instances.InstanceStartup,
    "OP_INSTANCE_SHUTDOWN": instances.InstanceShutdown,
    "OP_INSTANCE_REBOOT": instances.InstanceReboot,
    "OP_INSTANCE_RENAME": instances.InstanceRename,
    "OP_INSTANCE_QUERY_DATA": instances.InstanceQueryData,
    "OP_INSTANCE_MIGRATE": migration.InstanceMigrate,
    "OP_INSTANCE_FAILOVER": migration.InstanceFailover,
    "OP_INSTANCE_SET_PARAMS": instance_changes.InstanceSetParams,
    "OP_INSTANCE_REINSTALL": reinstall.InstanceReinstall,
    "OP_INSTANCE_ACTIVATE_DISKS": disk_activation.InstanceActivateDisks,
    "OP_INSTANCE_DEACTIVATE_DISKS": disk_activation.InstanceDeactivateDisks,
    "OP_INSTANCE_MULTI_ALLOC": multi_alloc.InstanceMultiAlloc,
    "OP_INSTANCE_GROW_DISK": disks.InstanceGrowDisk,
    "OP_INSTANCE_RECREATE_DISKS": disks.InstanceRecreateDisks,
    "OP_INSTANCE_REPLACE_DISKS": disks.InstanceReplaceDisks,
    "OP_BACKUP_PREPARE": backup.BackupPrepare,
    "OP_BACKUP_EXPORT": backup.BackupExport,
    "OP_BACKUP_REMOVE": backup.BackupRemove,
    "OP_NODE_ADD": membership.NodeAdd,
    "OP_NODE_REMOVE": membership.NodeRemove,
    "OP_NODE_SET_PARAMS": nodes.NodeSetParams,
    "OP_NODE_POWERCYCLE": nodes.NodePowercycle,
    "OP_NODE_QUERY_STORAGE": nodes.NodeQueryStorage,
    "OP_NODE_MODIFY_STORAGE": nodes.NodeModifyStorage,
    "OP_REPAIR_NODE_STORAGE": nodes.NodeRepairStorage,
    "OP_NODE_EVACUATE": nodes.NodeEvacuate,
    "OP_NODE_MIGRATE": nodes.NodeMigrate,
    "OP_OS_DIAGNOSE": os_units.OsDiagnose,
    "OP_NETWORK_ADD": networks.NetworkAdd,
    "OP_NETWORK_REMOVE": networks.NetworkRemove,
    "OP_NETWORK_CONNECT": networks.NetworkConnect,
    "OP_NETWORK_DISCONNECT": networks.NetworkDisconnect,
    "OP_NETWORK_SET_PARAMS": networks.NetworkSetParams,
    "OP_NETWORK_RENAME": networks.NetworkRename,
    "OP_TEST_DELAY": debug.TestDelay,
}


def unit_factory(op, env):
    """The logical unit carrying out C{op}.

    @raise OpPrereqError: no unit implements the opcode.
    """
    unit = UNITS.get(op["OP_ID"])
    if unit is None:
        raise OpPrereqError(
            "Opcode %s is not supported by this cluster yet" % op["OP_ID"], ECODE_INVAL
        )
    return unit(op, env)


def supported(op_id):
    """Whether this engine can carry out C{op_id}."""
    return op_id in UNITS
