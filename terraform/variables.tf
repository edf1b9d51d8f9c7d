variable "name" {
  description = "Name prefix of every resource (and the App tag)."
  type        = string
  default     = "cadbox"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name must be 2-21 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-central-1"
}

variable "availability_zones" {
  description = "Exactly two availability zones; the first holds the data volume and therefore the instance. Null picks the region's first two."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || length(coalesce(var.availability_zones, [])) == 2
    error_message = "availability_zones must list exactly two zones (or be null)."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; split into two public and two private /20s."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate the HTTPS listener serves (issued for domain_name)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "domain_name" {
  description = "DNS name clients use (the certificate's name). Null: the URL output uses the load balancer's own DNS name."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "If set, an alias record domain_name -> load balancer is created in this hosted zone."
  type        = string
  default     = null
}

variable "allowed_cidrs" {
  description = "Client networks allowed to reach the load balancer on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "ami_id" {
  description = "AMI to run. Null: the newest AMI of this account tagged App=cadbox (and cadbox-version=ami_version if set), as built by `make ami`."
  type        = string
  default     = null
}

variable "ami_version" {
  description = "With ami_id null: only AMIs tagged with this cadbox-version are considered. Null: any version."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "Instance type (Nitro, so the data volume shows up as NVMe with its id)."
  type        = string
  default     = "t3.small"
}

variable "root_volume_size_gb" {
  description = "Size of the encrypted root volume (the AMI's snapshot size or more)."
  type        = number
  default     = 8
}

variable "data_volume_size_gb" {
  description = "Size of the persistent, encrypted data volume mounted at /var/lib/cadbox. It can grow later (the boot step grows the filesystem), never shrink."
  type        = number
  default     = 50
}

variable "data_volume_iops" {
  description = "gp3 IOPS of the data volume."
  type        = number
  default     = 3000
}

variable "admin_token_parameter" {
  description = "Name of the SSM Parameter Store SecureString holding cadbox's admin token. Created outside Terraform (see docs/deploy.md) so the token is in neither variables, user data nor state."
  type        = string
  default     = "/cadbox/admin-token"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./-]+$", var.admin_token_parameter))
    error_message = "admin_token_parameter must be a fully qualified parameter name starting with /."
  }
}

variable "admin_token_kms_key_arn" {
  description = "Customer managed KMS key the token parameter is encrypted with. Null: the AWS managed aws/ssm key (no extra grant needed)."
  type        = string
  default     = null
}

variable "backup_retention_days" {
  description = "Days a backup stays current in the bucket; noncurrent versions are kept backup_noncurrent_days longer."
  type        = number
  default     = 35
}

variable "backup_noncurrent_days" {
  description = "Days an overwritten or deleted backup version is kept."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Protect the load balancer from deletion."
  type        = bool
  default     = true
}
