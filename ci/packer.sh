#!/usr/bin/env bash
# Runs the cached Packer (ci/install-infra-tools.sh) with the cached amazon
# plugin, so neither `packer init` nor any HashiCorp download is needed:
#   ci/packer.sh build -var cadbox_version=v1.2.3 -var git_commit=abc packer
set -euo pipefail
# shellcheck source=ci/infra-tools.sh
source "$(dirname "$0")/infra-tools.sh"
[[ -x "$PACKER_DIR/packer" && -x "$PACKER_AMAZON_BIN" ]] ||
  "$INFRA_ROOT/ci/install-infra-tools.sh" packer packer-amazon
export PACKER_PLUGIN_PATH="$PACKER_PLUGINS_DIR" CHECKPOINT_DISABLE=1
exec "$PACKER_DIR/packer" "$@"
