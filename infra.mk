# infra.mk: deployment targets, included by the Makefile (`include infra.mk`).
# See docs/deploy.md. Tools are built once per machine into $(CADBOX_TOOLS),
# outside the checkout, by ci/install-infra-tools.sh.

# Defining targets here must not change the including Makefile's default
# goal (`make` alone), wherever the include line sits: restored at the end.
_infra_saved_default_goal := $(.DEFAULT_GOAL)

CADBOX_TOOLS ?= $(HOME)/.cache/cadbox-tools
export CADBOX_TOOLS
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Extra Packer arguments, e.g. PACKER_VARS='-var subnet_id=subnet-0123'.
PACKER_VARS ?=

.PHONY: infra-tools infra-check ami infra-boot-test

## infra-tools: build terraform, tflint + aws ruleset, packer + amazon plugin, trivy, the stub provider into $(CADBOX_TOOLS) (once: ~25 min cold)
infra-tools:
	bash ci/install-infra-tools.sh

## infra-check: offline checks of packer/ and terraform/ (fmt, validate, tflint, trivy, shellcheck, systemd-analyze verify, HCL wiring tests)
infra-check: build infra-tools
	bash ci/infra-check.sh

## ami: build the cadbox AMI with Packer (needs AWS credentials; AWS_REGION picks the region), tagged with VERSION and GIT_COMMIT
ami: build
	bash ci/packer.sh build -var 'cadbox_version=$(VERSION)' -var 'git_commit=$(GIT_COMMIT)' \
		$(if $(AWS_REGION),-var 'region=$(AWS_REGION)') $(PACKER_VARS) packer

## infra-boot-test: the AMI's boot path locally: seed N (default 1000000) incidents, time /readyz (limit 2 s)
infra-boot-test: build
	bash packer/local-boot-test.sh

.DEFAULT_GOAL := $(_infra_saved_default_goal)
