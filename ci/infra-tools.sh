#!/usr/bin/env bash
# Shared by ci/install-infra-tools.sh and ci/infra-check.sh (sourced, not run):
# the pinned versions of the offline infra-check tools and where each lives in
# the per-machine cache, one folder per tool and version, outside the checkout.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file

TERRAFORM_VERSION=1.5.7          # last MPL release of Terraform
TFLINT_VERSION=0.64.0
TFLINT_AWS_VERSION=0.36.0        # tflint-ruleset-aws
PACKER_VERSION=1.9.4             # last MPL release of Packer
PACKER_AMAZON_VERSION=1.3.2      # packer-plugin-amazon
PACKER_PLUGIN_API=x5.0           # plugin protocol of packer-plugin-sdk 0.5.x
TRIVY_VERSION=0.74.0

INFRA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${CADBOX_TOOLS:-$HOME/.cache/cadbox-tools}"

TERRAFORM_DIR="$TOOLS/terraform-$TERRAFORM_VERSION"
TFLINT_DIR="$TOOLS/tflint-$TFLINT_VERSION"
TFLINT_AWS_DIR="$TOOLS/tflint-ruleset-aws-$TFLINT_AWS_VERSION"   # TFLINT_PLUGIN_DIR
PACKER_DIR="$TOOLS/packer-$PACKER_VERSION"
PACKER_PLUGINS_DIR="$TOOLS/packer-plugin-amazon-$PACKER_AMAZON_VERSION"  # PACKER_PLUGIN_PATH
PACKER_AMAZON_BIN="$PACKER_PLUGINS_DIR/github.com/hashicorp/amazon/packer-plugin-amazon_v${PACKER_AMAZON_VERSION}_${PACKER_PLUGIN_API}_linux_amd64"
TRIVY_DIR="$TOOLS/trivy-$TRIVY_VERSION"

# The stub provider is this repository's own source: its cache folder is keyed
# by a hash of that source, so an edit rebuilds it and an unchanged tree reuses it.
STUB_SRC="$INFRA_ROOT/terraform/internal/stubprovider"
stub_hash() {
  (cd "$STUB_SRC" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
STUB_DIR="$TOOLS/stubprovider-$(stub_hash)"
