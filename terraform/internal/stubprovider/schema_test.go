package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestCollectDerivesSchemaFromConfiguration(t *testing.T) {
	dir := t.TempDir()
	src := `
provider "aws" {
  region = "eu-central-1"
  default_tags { tags = { App = "x" } }
}
data "aws_ami" "x" {
  owners = ["self"]
  filter {
    name   = "tag:App"
    values = ["x"]
  }
}
resource "aws_subnet" "private" {
  count      = 2
  cidr_block = "10.0.0.0/24"
}
resource "aws_lb" "this" {
  subnets = aws_subnet.private[*].id
  lifecycle { create_before_destroy = true }
}
resource "aws_autoscaling_group" "app" {
  vpc_zone_identifier = [aws_subnet.private[count.index].cidr_block]
  dynamic "tag" {
    for_each = {}
    content {
      key = tag.key
    }
  }
}
output "dns" { value = aws_lb.this.dns_name }
output "ami" { value = data.aws_ami.x.image_id }
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := collect([]string{dir}, "aws", "aws_")
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted(s.provider.attrs); !slices.Equal(got, []string{"region"}) {
		t.Errorf("provider attrs = %v", got)
	}
	if s.provider.blocks["default_tags"] == nil {
		t.Error("provider default_tags block missing")
	}
	if got := sorted(s.resources["aws_subnet"].attrs); !slices.Equal(got, []string{"cidr_block", "id"}) {
		t.Errorf("aws_subnet attrs = %v (count must not appear; id and the referenced cidr_block must)", got)
	}
	if got := sorted(s.resources["aws_lb"].attrs); !slices.Equal(got, []string{"dns_name", "id", "subnets"}) {
		t.Errorf("aws_lb attrs = %v", got)
	}
	if _, ok := s.resources["aws_lb"].blocks["lifecycle"]; ok {
		t.Error("lifecycle is a meta-block, not part of the schema")
	}
	if b := s.resources["aws_autoscaling_group"].blocks["tag"]; b == nil || !b.attrs["key"] {
		t.Error("dynamic \"tag\" must declare a nested block tag with its content's arguments")
	}
	ami := s.dataSources["aws_ami"]
	if ami == nil || !ami.attrs["image_id"] || !ami.attrs["owners"] || ami.blocks["filter"] == nil {
		t.Errorf("aws_ami data source shape wrong: %+v", ami)
	}
	schema := toSchema(s.resources["aws_lb"])
	for _, a := range schema.Attributes {
		if !a.Optional || !a.Computed {
			t.Errorf("attribute %s must be optional and computed", a.Name)
		}
	}
}
