#!/usr/bin/env bash
# cadbox-secrets.service: read cadbox's admin token from the SSM Parameter
# Store SecureString named by this instance's CadboxTokenParameter tag and
# write it to /run/cadbox/secret.env (tmpfs, root only, mode 0600), which
# cadbox.service loads as an EnvironmentFile. The token is never in user
# data, Terraform variables or state, or on disk.
set -euo pipefail
umask 077
# shellcheck source=packer/files/imds.sh
source /usr/local/libexec/cadbox/imds.sh

OUT=/run/cadbox/secret.env

aws_env
param="$(imds_tag CadboxTokenParameter)"
[[ "$param" =~ ^/[A-Za-z0-9_./-]+$ ]] || die "tag CadboxTokenParameter is not a parameter name: $param"

token="$(aws ssm get-parameter --name "$param" --with-decryption \
  --query Parameter.Value --output text)" || die "cannot read SSM parameter $param"
# Never print the value, not even when it is wrong.
[[ "$token" =~ ^[A-Za-z0-9._~+/=-]{32,}$ ]] ||
  die "SSM parameter $param does not hold a token (32+ URL-safe characters)"

install -d -m 0700 "${OUT%/*}"
tmp="$(mktemp "${OUT%/*}/.secret.XXXXXX")"
printf 'CADBOX_ADMIN_TOKEN=%s\n' "$token" >"$tmp"
mv -f "$tmp" "$OUT"
log "admin token from $param written to $OUT"
