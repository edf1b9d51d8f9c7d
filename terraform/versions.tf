terraform {
  # CI validates with 1.5.7 (the last MPL release); any 1.x from there on works.
  required_version = ">= 1.5.7, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }

  # Partial configuration: bucket, key, region and dynamodb_table (the state
  # lock) come from backend.hcl, made from backend.hcl.example after the
  # bootstrap/ module created them:
  #   terraform init -backend-config=backend.hcl
  backend "s3" {
    encrypt = true
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      App       = var.name
      ManagedBy = "terraform"
    }
  }
}
