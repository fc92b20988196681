# Shared by the scripts of the ganeti-rapi-noop OS definition: log what the
# node passed (to stderr, which the node appends to the script's log file).
log_environment() {
    echo "ganeti-rapi-noop: $1 for instance ${INSTANCE_NAME:-?}" >&2
    env | grep -E '^(OS_|INSTANCE_|OLD_INSTANCE_NAME|HYPERVISOR|DEBUG_LEVEL|DISK_|NIC_|OSP_|EXPORT_|IMPORT_)' \
        | LC_ALL=C sort >&2
}
