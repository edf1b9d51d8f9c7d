#!/usr/bin/env bash
# Restore cadbox's store from a backup, on the instance (run as root through
# Session Manager). The instance may only write backups, not read them, so
# the operator hands it a short-lived pre-signed URL for the .db object and
# the content of its .sha256 object (see docs/deploy.md):
#
#   restore.sh 'https://BUCKET.s3.REGION.amazonaws.com/backups/...db?X-Amz-...' SHA256
#   restore.sh /path/to/cadbox.db SHA256
#
# Checks the file, stops cadbox, runs `cadbox restore` (which replaces the
# store and drops the search index to be rebuilt), starts cadbox again and
# waits, bounded by READY_WAIT_S (default 1800), for /readyz while the index
# is rebuilt. Suspend the autoscaling group's HealthCheck and ReplaceUnhealthy
# processes first, or it replaces the instance while cadbox is stopped.
set -euo pipefail
umask 077
# shellcheck source=packer/files/imds.sh
source /usr/local/libexec/cadbox/imds.sh

[[ $# -eq 2 ]] || die "usage: ${0##*/} URL-or-FILE SHA256"
src=$1 want=$2
[[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "second argument must be the backup's sha256"

set -a
# shellcheck source=packer/files/cadbox.env
source /etc/cadbox/env
set +a
mountpoint -q "$CADBOX_DATA_DIR" || die "$CADBOX_DATA_DIR is not mounted"

file="$CADBOX_DATA_DIR/restore-$(date -u +%Y%m%dT%H%M%SZ).db"
trap 'rm -f "$file"' EXIT
if [[ "$src" == https://* ]]; then
  curl -fsS --retry 5 --retry-all-errors -o "$file" "$src"
else
  cp -- "$src" "$file"
fi
got="$(sha256sum "$file" | cut -d' ' -f1)"
[[ "$got" == "$want" ]] || die "checksum mismatch: got $got, want $want"
chown cadbox:cadbox "$file"

log "stopping cadbox (backups paused)"
systemctl stop cadbox-backup.timer cadbox.service
runuser -u cadbox -- /usr/local/bin/cadbox restore --from "$file"
systemctl start cadbox.service cadbox-backup.timer

port="${CADBOX_ADDR##*:}"
wait_s="${READY_WAIT_S:-1800}"
[[ "$wait_s" =~ ^[0-9]+$ ]] || die "READY_WAIT_S must be a number of seconds"
log "waiting up to ${wait_s} s for /readyz (search index rebuild)"
curl -fsS -o /dev/null --retry "$((wait_s / 2))" --retry-delay 2 --retry-max-time "$wait_s" \
  --retry-connrefused --retry-all-errors \
  "http://127.0.0.1:$port/readyz" || die "cadbox not ready after restore: journalctl -u cadbox"
log "restored from $src; cadbox is ready"
