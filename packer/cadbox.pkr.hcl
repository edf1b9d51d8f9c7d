# cadbox appliance AMI: Amazon Linux 2023 + the static cadbox binary from
# `make build` + hardened systemd units. Nothing is installed or compiled at
# boot. Build with `make ami` (it passes the version and commit).

packer {
  required_version = ">= 1.9.4"

  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = "= 1.3.2"
    }
  }
}

variable "cadbox_version" {
  description = "cadbox version baked into the AMI (git describe); tags the AMI."
  type        = string
}

variable "git_commit" {
  description = "Git commit the binary was built from; tags the AMI."
  type        = string
}

variable "region" {
  description = "Region to build the AMI in (the region Terraform deploys to)."
  type        = string
  default     = "eu-central-1"
}

variable "instance_type" {
  description = "Instance type of the temporary build instance."
  type        = string
  default     = "t3.small"
}

variable "subnet_id" {
  description = "Subnet of the temporary build instance (needs a route for SSH from this machine). Empty: the default VPC."
  type        = string
  default     = ""
}

variable "encrypt_boot" {
  description = "Encrypt the AMI's snapshot (with the account's default EBS key)."
  type        = bool
  default     = true
}

locals {
  # ami_name must be unique: version plus build time.
  build_time = formatdate("YYYYMMDD-hhmmss", timestamp())
  tags = {
    Name           = "cadbox ${var.cadbox_version}"
    App            = "cadbox"
    cadbox-version = var.cadbox_version
    cadbox-commit  = var.git_commit
    base-ami       = "{{ .SourceAMI }}"
    base-ami-name  = "{{ .SourceAMIName }}"
    built-by       = "packer"
  }
}

source "amazon-ebs" "al2023" {
  region          = var.region
  instance_type   = var.instance_type
  subnet_id       = var.subnet_id
  ami_name        = "cadbox-${var.cadbox_version}-${local.build_time}"
  ami_description = "cadbox ${var.cadbox_version} (${var.git_commit}) on Amazon Linux 2023"

  # The current Amazon Linux 2023 image, found by filter, never a fixed id.
  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  ssh_username                              = "ec2-user"
  temporary_security_group_source_public_ip = true

  # Instances launched from the AMI default to IMDSv2 (Terraform enforces it too).
  imds_support = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  encrypt_boot = var.encrypt_boot
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_type           = "gp3"
    volume_size           = 8
    encrypted             = true
    delete_on_termination = true
  }

  tags          = local.tags
  snapshot_tags = local.tags
  run_tags      = { Name = "packer cadbox ${var.cadbox_version}", App = "cadbox-build" }
}

build {
  sources = ["source.amazon-ebs.al2023"]

  # The static binary from `make build` (CGO_ENABLED=0): no compiler, no
  # container runtime and no package install on the instance.
  provisioner "file" {
    source      = "${path.root}/../bin/cadbox"
    destination = "/tmp/cadbox"
  }

  # Units, scripts and the environment file (uploaded as /tmp/files).
  provisioner "file" {
    source      = "${path.root}/files"
    destination = "/tmp"
  }

  provisioner "shell" {
    script           = "${path.root}/install.sh"
    environment_vars = ["CADBOX_VERSION=${var.cadbox_version}", "CADBOX_COMMIT=${var.git_commit}", "CADBOX_FILES=/tmp/files"]
    execute_command  = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
  }

  post-processor "manifest" {
    output     = "${path.root}/manifest.json"
    strip_path = true
  }
}
