#!/usr/bin/env bash
# make infra-check: the offline checks of packer/ and terraform/. Needs the
# tools ci/install-infra-tools.sh builds and bin/cadbox (make build); touches
# no network (no registry, no AWS, no update checks) and writes nothing into
# the checkout. Runs every check, prints one line per check, and exits
# non-zero if any failed.
set -uo pipefail

# shellcheck source=ci/infra-tools.sh
source "$(dirname "$0")/infra-tools.sh"
cd "$INFRA_ROOT" || exit 1
export PATH="/usr/local/go/bin:$PATH"

# No phoning home from any tool.
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0 PACKER_NO_COLOR=1
export TRIVY_DISABLE_TELEMETRY=true TRIVY_SKIP_VERSION_CHECK=true

work="$(mktemp -d "${TMPDIR:-/tmp}/cadbox-infra-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT

passed=() failed=()
# check NAME CMD...: run one check, output indented, verdict on one line.
check() {
  local name=$1 start=$SECONDS
  shift
  printf '== %s\n' "$name"
  if "$@" 2>&1 | sed 's/^/   /'; then
    passed+=("$name")
    printf '   ok: %s (%d s)\n' "$name" $((SECONDS - start))
  else
    failed+=("$name")
    printf '   FAIL: %s\n' "$name"
  fi
}

need() {
  local f
  for f in "$@"; do
    [[ -x "$f" ]] || {
      echo "missing $f: run ci/install-infra-tools.sh (make infra-tools)" >&2
      exit 2
    }
  done
}
need "$TERRAFORM_DIR/terraform" "$STUB_DIR/terraform-provider-aws" "$TFLINT_DIR/tflint" \
  "$TFLINT_AWS_DIR/tflint-ruleset-aws" "$PACKER_DIR/packer" "$PACKER_AMAZON_BIN" "$TRIVY_DIR/trivy" bin/cadbox
command -v shellcheck >/dev/null || need /usr/bin/shellcheck
command -v systemd-analyze >/dev/null || need /usr/bin/systemd-analyze

TERRAFORM="$TERRAFORM_DIR/terraform"
TF_MODULES=(terraform terraform/bootstrap)

# Our own CLI configuration for every terraform call (whatever the machine's
# TF_CLI_CONFIG_FILE says): the stub provider stands in for hashicorp/aws.
export TF_CLI_CONFIG_FILE="$work/terraformrc"
cat >"$TF_CLI_CONFIG_FILE" <<EOT
provider_installation {
  dev_overrides {
    "hashicorp/aws" = "$STUB_DIR"
  }
  direct {}
}
EOT

# --- shell scripts -----------------------------------------------------------
shell_scripts() {
  local files
  mapfile -t files < <(find ci packer terraform -name '*.sh' -type f | LC_ALL=C sort)
  printf '%s\n' "${files[@]}"
  shellcheck -x "${files[@]}"
}

# --- terraform ---------------------------------------------------------------
terraform_fmt() {
  "$TERRAFORM" version | head -n 1
  "$TERRAFORM" fmt -check -diff -recursive terraform
}

# The stub provider stands in for hashicorp/aws through dev_overrides; each
# module is validated in a temporary copy so no .terraform lands in the tree.
terraform_validate() {
  local mod copy rc=0
  for mod in "${TF_MODULES[@]}"; do
    copy="$work/validate/$mod"
    mkdir -p "$copy" "$work/no-plugins"
    cp "$mod"/*.tf "$copy"/
    echo "-- $mod"
    if grep -qE '^[[:space:]]*module[[:space:]]+"' "$copy"/*.tf; then
      # Child modules must be installed; -plugin-dir keeps init off the registry.
      "$TERRAFORM" -chdir="$copy" init -backend=false -input=false \
        -plugin-dir="$work/no-plugins" >/dev/null || rc=1
    fi
    # The override warning is expected; anything else is printed.
    CADBOX_STUB_TF_DIRS="$copy" "$TERRAFORM" -chdir="$copy" validate -no-color || rc=1
  done
  return $rc
}

tflint_check() {
  local mod rc=0
  # Lists the loaded rulesets: ruleset.aws must be among them.
  TFLINT_PLUGIN_DIR="$TFLINT_AWS_DIR" "$TFLINT_DIR/tflint" --chdir=terraform \
    --config="$INFRA_ROOT/terraform/.tflint.hcl" --version | tee "$work/tflint-version"
  grep -q "ruleset.aws ($TFLINT_AWS_VERSION)" "$work/tflint-version" || return 1
  for mod in "${TF_MODULES[@]}"; do
    echo "-- $mod"
    TFLINT_PLUGIN_DIR="$TFLINT_AWS_DIR" "$TFLINT_DIR/tflint" --chdir="$mod" \
      --config="$INFRA_ROOT/terraform/.tflint.hcl" --no-color --format=compact || rc=1
  done
  return $rc
}

trivy_check() {
  "$TRIVY_DIR/trivy" --version | head -n 1
  "$TRIVY_DIR/trivy" config --quiet --skip-check-update --skip-version-check --disable-telemetry \
    --cache-dir "$TOOLS/trivy-cache" \
    --ignorefile .trivyignore --severity HIGH,CRITICAL --exit-code 1 terraform
}

# --- packer ------------------------------------------------------------------
packer_run() {
  PACKER_PLUGIN_PATH="$PACKER_PLUGINS_DIR" PACKER_CONFIG_DIR="$work/packer-config" \
    PACKER_CACHE_DIR="$work/packer-cache" "$PACKER_DIR/packer" "$@"
}
packer_fmt() {
  packer_run version
  packer_run fmt -check -diff packer
}
packer_validate() {
  packer_run validate -var cadbox_version=infra-check -var git_commit=0000000 packer
}

# --- systemd units -------------------------------------------------------------
# systemd-analyze verify on copies whose programs exist (the real binary and
# scripts under a temporary root). It exits 0 even on unknown keys, so any
# output at all is a failure.
systemd_verify() {
  local root="$work/root" units="$work/units" out
  mkdir -p "$root/usr/local/bin" "$root/usr/local/libexec/cadbox" "$units"
  cp bin/cadbox "$root/usr/local/bin/cadbox"
  cp packer/files/*.sh "$root/usr/local/libexec/cadbox/"
  chmod 0755 "$root/usr/local/libexec/cadbox/"*.sh
  local u
  for u in packer/files/*.service packer/files/*.timer; do
    sed -e "s|/usr/local/bin/cadbox|$root/usr/local/bin/cadbox|g" \
      -e "s|/usr/local/libexec/cadbox/|$root/usr/local/libexec/cadbox/|g" "$u" >"$units/${u##*/}"
  done
  systemd-analyze --version | head -n 1
  out="$(cd "$units" && SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no ./*.service ./*.timer 2>&1)"
  if [[ -n "$out" ]]; then
    printf '%s\n' "$out"
    return 1
  fi
  echo "no findings on $(find "$units" -type f | wc -l) units"
}

# --- Go: the HCL wiring tests and the stub provider's own tests --------------
go_tests() {
  go test -count=1 ./terraform/ &&
    (cd terraform/internal/stubprovider && go vet ./... && go test -count=1 ./...)
}

check "shellcheck" shell_scripts
check "terraform fmt" terraform_fmt
check "terraform validate (stub provider)" terraform_validate
check "tflint + aws ruleset" tflint_check
check "trivy config (HIGH,CRITICAL)" trivy_check
check "packer fmt" packer_fmt
check "packer validate" packer_validate
check "systemd-analyze verify" systemd_verify
check "go wiring tests" go_tests

echo
if ((${#failed[@]} > 0)); then
  echo "infra-check: FAILED ${#failed[@]} of $((${#passed[@]} + ${#failed[@]})) checks: ${failed[*]}"
  exit 1
fi
echo "infra-check: all ${#passed[@]} checks passed"
