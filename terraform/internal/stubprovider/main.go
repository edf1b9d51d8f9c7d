// Command terraform-provider-aws here is NOT the AWS provider. It is a stub,
// written with terraform-plugin-go, that lets `terraform validate` run on a
// machine without registry access (make infra-check wires it in through
// dev_overrides in a TF_CLI_CONFIG_FILE).
//
// It declares a schema derived from the configuration it is asked to check
// (every resource, data source and provider block in the .tf files of the
// directories in CADBOX_STUB_TF_DIRS, colon separated, default "."): each
// argument, nested block and referenced attribute is optional and computed
// with a dynamic type. Validation therefore checks the Terraform language
// (undeclared variables, locals and resources, function names and arity,
// bad defaults, type errors in expressions, references to unknown objects),
// not AWS argument names: tflint's aws ruleset and trivy cover those.
//
// Every RPC other than the ones validation uses fails with an error, so the
// stub can never plan or apply anything.
package main

import (
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
	"github.com/hashicorp/terraform-plugin-go/tfprotov5/tf5server"
)

func main() {
	dirs := filepath.SplitList(os.Getenv("CADBOX_STUB_TF_DIRS"))
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	for i, d := range dirs {
		dirs[i] = strings.TrimSpace(d)
	}
	if err := tf5server.Serve("registry.terraform.io/hashicorp/aws", func() tfprotov5.ProviderServer {
		return &server{dirs: dirs}
	}); err != nil {
		log.Fatal(err)
	}
}
