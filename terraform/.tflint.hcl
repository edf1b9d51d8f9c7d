# tflint configuration for terraform/ and terraform/bootstrap (make infra-check).
# The aws ruleset is built from source by ci/install-infra-tools.sh and found
# through TFLINT_PLUGIN_DIR; nothing is downloaded, no AWS credentials needed.

config {
  call_module_type = "none"
}

plugin "terraform" {
  enabled = true
  preset  = "all"
}

plugin "aws" {
  enabled = true
}

# Variables and outputs document themselves with descriptions; the modules
# are small enough to keep in one root folder each.
rule "terraform_standard_module_structure" {
  enabled = false
}
