#!/usr/bin/env bash
# cadbox-backup.service (hourly timer): a hot, consistent copy of the live
# store taken through the running server, streamed to S3 without touching the
# disk:  cadbox backup --out - | aws s3 cp - s3://BUCKET/backups/...
# A backup is complete only when its .sha256 object exists: that one is
# written last, after both sides of the pipe succeeded.
set -euo pipefail
# shellcheck source=packer/files/imds.sh
source /usr/local/libexec/cadbox/imds.sh

aws_env
bucket="$(imds_tag CadboxBackupBucket)"
instance="$(imds_get instance-id)"
[[ -n "${CADBOX_ADMIN_TOKEN:-}" ]] || die "CADBOX_ADMIN_TOKEN missing (is cadbox-secrets.service active?)"
export CADBOX_TOKEN="$CADBOX_ADMIN_TOKEN"
server="http://127.0.0.1:${CADBOX_ADDR##*:}"

now="$(date -u +%Y%m%dT%H%M%SZ)"
key="backups/${now:0:4}/${now:4:2}/${now:6:2}/cadbox-$now-$instance.db"
sumfile="$(mktemp)"
trap 'rm -f "$sumfile"' EXIT

# A stream has no length: tell the CLI roughly how big it will be so it picks
# a multipart part size that fits (past ~50 GB the default would not).
size="$(stat -c %s "${CADBOX_DATA_DIR:-/var/lib/cadbox}/cadbox.db" 2>/dev/null || echo 0)"

/usr/local/bin/cadbox backup --server "$server" --out - |
  tee >(sha256sum >"$sumfile") |
  aws s3 cp - "s3://$bucket/$key" --only-show-errors --expected-size "$((size + size / 10 + 1))"
wait "$!" # the checksum process substitution

sum="$(cut -d' ' -f1 "$sumfile")"
[[ "$sum" =~ ^[0-9a-f]{64}$ ]] || die "no checksum for $key"
printf '%s  %s\n' "$sum" "${key##*/}" |
  aws s3 cp - "s3://$bucket/$key.sha256" --only-show-errors
log "backup s3://$bucket/$key complete (sha256 $sum)"
