# Shared by the scripts of the "testfiles" ExtStorage provider: volumes are
# plain files named after VOL_NAME in the directory given by the "volumes"
# parameter (default: volumes/ next to these scripts).  Every call is
# logged with its environment to calls.log, for the tests to read.
set -e
PROVIDER_DIR=$(cd "$(dirname "$0")" && pwd)
VOLUMES=${EXTP_VOLUMES:-$PROVIDER_DIR/volumes}
VOLUME="$VOLUMES/$VOL_NAME"

fail() {
    echo "testfiles: $*" >&2
    exit 1
}

log_call() {
    echo "$1 VOL_NAME=${VOL_NAME-} VOL_SIZE=${VOL_SIZE-} VOL_NEW_SIZE=${VOL_NEW_SIZE-}" \
        "VOL_METADATA=${VOL_METADATA-} VOL_UUID=${VOL_UUID-} VOL_CNAME=${VOL_CNAME-}" \
        "EXTP_SPARSE=${EXTP_SPARSE-} EXTP_VOLUMES=${EXTP_VOLUMES-}" >> "$PROVIDER_DIR/calls.log"
}

need_volume_name() {
    [ -n "${VOL_NAME-}" ] || fail "VOL_NAME is not set"
    case "$VOL_NAME" in
        */*|.*) fail "bad volume name $VOL_NAME" ;;
    esac
}
