// Package terraform holds no Go code of cadbox: the folder is the Terraform
// configuration that deploys it (see docs/deploy.md). Its tests parse that
// configuration, the Packer template and the systemd units with
// github.com/hashicorp/hcl/v2 and check the wiring against cadbox's own
// defaults, so `go test ./...` catches a broken deployment without any tool
// or cloud access.
package terraform
