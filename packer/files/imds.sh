#!/usr/bin/env bash
# Sourced by the cadbox boot and backup scripts: IMDSv2 look-ups and the AWS
# CLI settings they share. The instance tags (instance_metadata_tags enabled
# in the launch template) carry the names these scripts need; none of them is
# secret.

IMDS=http://169.254.169.254/latest

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  log "$*"
  exit 1
}

# curl's own bounded retries, with backoff: no hand-rolled waiting.
IMDS_CURL=(curl -fsS --max-time 2 --retry 10 --retry-connrefused --retry-all-errors)

imds_token() {
  if [[ -z "${IMDS_TOKEN:-}" ]]; then
    IMDS_TOKEN="$("${IMDS_CURL[@]}" -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 600' "$IMDS/api/token")" ||
      die "no IMDSv2 token"
  fi
}

# imds_get PATH: a value from /latest/meta-data/PATH.
imds_get() {
  imds_token
  "${IMDS_CURL[@]}" -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/meta-data/$1" ||
    die "instance metadata $1 unavailable"
}

# imds_tag KEY: the value of this instance's tag KEY.
imds_tag() {
  imds_get "tags/instance/$1"
}

# aws_env: region from the instance, and the CLI's bounded retries with
# backoff for API calls made while the network is still coming up.
aws_env() {
  AWS_REGION="$(imds_get placement/region)"
  export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
  export AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=10 AWS_PAGER=""
}
