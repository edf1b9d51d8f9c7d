#!/usr/bin/env bash
# Builds the tools `make infra-check` runs, from Go module source, into a cache
# outside the checkout (${CADBOX_TOOLS:-$HOME/.cache/cadbox-tools}), one folder
# per tool and version. A folder holding its binary and a .stamp is complete and
# is skipped, so a second run costs seconds; a cold run takes ~20-30 minutes on
# 2 cores, one build at a time under `nice`. Needs only the Go module proxy and
# (for shellcheck) Debian's packages: no HashiCorp or GitHub downloads.
#
#   ci/install-infra-tools.sh                 # everything
#   ci/install-infra-tools.sh terraform stub  # a subset, by name, of:
#     (shellcheck) terraform stub tflint tflint-aws packer packer-amazon trivy
set -euo pipefail

# shellcheck source=ci/infra-tools.sh
source "$(dirname "$0")/infra-tools.sh"

export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
GO="${GO:-go}"
NICE=(nice -n 10)
LDFLAGS="-s -w"

log() { printf '[install-infra-tools] %s\n' "$*" >&2; }

mkdir -p "$TOOLS"
# Outside any module: `go mod download` must not touch the checkout's go.mod/go.sum.
cd "$TOOLS"
# One installer at a time per cache (CI and a developer may share a machine).
exec 9>"$TOOLS/.lock"
flock 9

# done_already DIR FILE: the folder was completed by an earlier run.
done_already() { [[ -f "$1/.stamp" && -x "$1/$2" ]]; }

# stamp_into TMP DIR WHAT: mark TMP complete and move it into place atomically.
stamp_into() {
  printf '%s built %s with %s\n' "$3" "$(date -u +%FT%TZ)" "$("$GO" env GOVERSION)" >"$1/.stamp"
  rm -rf "$2"
  mv "$1" "$2"
}

# timed NAME CMD...: run a build step and report how long it took.
timed() {
  local name=$1 start=$SECONDS
  shift
  log "building $name ..."
  "$@"
  log "built $name in $((SECONDS - start)) s"
}

# modcopy MODULE@VERSION DEST: a writable copy of a module's source. Building
# inside the copy makes its own go.mod (replace directives included) apply,
# which `go install module@version` refuses to do.
modcopy() {
  local dir
  dir="$("$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || { log "go mod download $1 gave no source folder"; return 1; }
  cp -R "$dir/." "$2"
  chmod -R u+w "$2"
}

install_shellcheck() {
  command -v shellcheck >/dev/null 2>&1 && return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "shellcheck missing: install Debian's shellcheck package"
    return 1
  fi
  log "installing shellcheck from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
}

# go_install DIR BINARY MODULE/PATH@VERSION EXTRA-LDFLAGS [ENV=VALUE...]
go_install() {
  local dir=$1 bin=$2 pkg=$3 ldflags="$LDFLAGS $4"
  shift 4
  done_already "$dir" "$bin" && { log "$bin: cached in $dir"; return 0; }
  local tmp
  tmp="$(mktemp -d "$TOOLS/.build.XXXXXX")"
  timed "$pkg" env GOBIN="$tmp" "$@" "${NICE[@]}" "$GO" install -trimpath -ldflags "$ldflags" "$pkg"
  stamp_into "$tmp" "$dir" "$pkg"
}

# gobuild SRC OUT [GOFLAGS...]: build the main package in folder SRC.
gobuild() {
  local src=$1 out=$2
  shift 2
  (cd "$src" && GOFLAGS="$GOFLAGS $*" "${NICE[@]}" "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$out" .)
}

# build_modcopy DIR BINARY-PATH-IN-DIR MODULE@VERSION
build_modcopy() {
  local dir=$1 rel=$2 mod=$3
  done_already "$dir" "$rel" && { log "$(basename "$rel"): cached in $dir"; return 0; }
  local tmp src
  tmp="$(mktemp -d "$TOOLS/.build.XXXXXX")"
  src="$(mktemp -d "$TOOLS/.src.XXXXXX")"
  modcopy "$mod" "$src"
  mkdir -p "$(dirname "$tmp/$rel")"
  timed "$mod (module copy)" gobuild "$src" "$tmp/$rel" -mod=mod
  rm -rf "$src"
  stamp_into "$tmp" "$dir" "$mod"
}

install_terraform() {
  go_install "$TERRAFORM_DIR" terraform "github.com/hashicorp/terraform@v$TERRAFORM_VERSION" ""
}

install_stub() {
  done_already "$STUB_DIR" terraform-provider-aws && { log "stub provider: cached in $STUB_DIR"; return 0; }
  local tmp
  tmp="$(mktemp -d "$TOOLS/.build.XXXXXX")"
  timed "stub provider" gobuild "$STUB_SRC" "$tmp/terraform-provider-aws"
  stamp_into "$tmp" "$STUB_DIR" "terraform stub provider $(basename "$STUB_DIR")"
  # Older stub builds are dead weight once the source moved on.
  find "$TOOLS" -maxdepth 1 -name 'stubprovider-*' ! -path "$STUB_DIR" -exec rm -rf {} +
}

install_tflint() {
  go_install "$TFLINT_DIR" tflint "github.com/terraform-linters/tflint@v$TFLINT_VERSION" ""
}

install_tflint_aws() {
  # The proxy refuses this module's version list, so `go install` cannot resolve it.
  build_modcopy "$TFLINT_AWS_DIR" tflint-ruleset-aws "github.com/terraform-linters/tflint-ruleset-aws@v$TFLINT_AWS_VERSION"
}

install_packer() {
  build_modcopy "$PACKER_DIR" packer "github.com/hashicorp/packer@v$PACKER_VERSION"
}

install_packer_amazon() {
  local rel="${PACKER_AMAZON_BIN#"$PACKER_PLUGINS_DIR/"}"
  build_modcopy "$PACKER_PLUGINS_DIR" "$rel" "github.com/hashicorp/packer-plugin-amazon@v$PACKER_AMAZON_VERSION"
  # Packer only loads a plugin binary that has its checksum beside it.
  local sum
  sum="$(sha256sum "$PACKER_AMAZON_BIN" | cut -d' ' -f1)"
  [[ "$(cat "${PACKER_AMAZON_BIN}_SHA256SUM" 2>/dev/null)" == "$sum" ]] ||
    printf '%s' "$sum" >"${PACKER_AMAZON_BIN}_SHA256SUM"
}

install_trivy() {
  # Trivy needs encoding/json/v2; its version string is set at link time.
  go_install "$TRIVY_DIR" trivy "github.com/aquasecurity/trivy/cmd/trivy@v$TRIVY_VERSION" \
    "-X github.com/aquasecurity/trivy/pkg/version/app.ver=$TRIVY_VERSION" GOEXPERIMENT=jsonv2
}

all=(shellcheck terraform stub tflint tflint-aws packer packer-amazon trivy)
want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=("${all[@]}")
total=$SECONDS
for t in "${want[@]}"; do
  case "$t" in
    shellcheck) install_shellcheck ;;
    terraform) install_terraform ;;
    stub) install_stub ;;
    tflint) install_tflint ;;
    tflint-aws) install_tflint_aws ;;
    packer) install_packer ;;
    packer-amazon) install_packer_amazon ;;
    trivy) install_trivy ;;
    *) log "unknown tool $t (known: ${all[*]})"; exit 2 ;;
  esac
done
rm -rf "$TOOLS"/.build.* "$TOOLS"/.src.* 2>/dev/null || true
log "tools ready in $TOOLS ($((SECONDS - total)) s)"
