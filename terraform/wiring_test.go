package terraform_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The contract with cadbox itself, read from its source and the AMI's
// environment file rather than restated here.
func cadboxContract(t *testing.T) (readyPath string, port int64, shutdown time.Duration, dataDir string) {
	t.Helper()
	facts := readGoFacts(t)
	env := parseEnvFile(t, filepath.Join(unitsDir, "cadbox.env"))

	readyPath = "/readyz"
	if !facts.hasRoute(readyPath) {
		t.Fatalf("cadbox's Go source registers no %s route: the load balancer health check would fail every instance", readyPath)
	}

	defAddr, ok := facts.envDefaults["ADDR"]
	if !ok {
		t.Fatal(`no struct field tagged env:"ADDR" envDefault:"..." in cadbox's Go source`)
	}
	port = portOf(t, defAddr)
	if addr, ok := env["CADBOX_ADDR"]; ok && portOf(t, addr) != port {
		t.Fatalf("packer/files/cadbox.env CADBOX_ADDR=%s, but the port everything else assumes is cadbox's default %d", addr, port)
	}

	shutdown = 20 * time.Second
	if def, ok := facts.envDefaults["SHUTDOWN_TIMEOUT"]; ok {
		d, err := time.ParseDuration(def)
		if err != nil {
			t.Fatalf("SHUTDOWN_TIMEOUT default %q: %v", def, err)
		}
		shutdown = d
	}
	if v, ok := env["CADBOX_SHUTDOWN_TIMEOUT"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("cadbox.env CADBOX_SHUTDOWN_TIMEOUT=%q: %v", v, err)
		}
		shutdown = d
	}

	dataDir = env["CADBOX_DATA_DIR"]
	if dataDir != "/var/lib/cadbox" {
		t.Fatalf("cadbox.env CADBOX_DATA_DIR=%q, want /var/lib/cadbox (the data volume's mount point)", dataDir)
	}
	return readyPath, port, shutdown, dataDir
}

func TestTargetGroupChecksReadiness(t *testing.T) {
	readyPath, port, shutdown, _ := cadboxContract(t)
	c := parseHCLDir(t, tfDir, ".tf")
	tg := c.one("resource", "aws_lb_target_group").Body

	if got := literalInt(t, tg, "port"); got != port {
		t.Errorf("target group port = %d, cadbox listens on %d", got, port)
	}
	if got := literalString(t, tg, "protocol"); got != "HTTP" {
		t.Errorf("target group protocol = %q, want HTTP (TLS ends at the load balancer)", got)
	}

	hc := nested(t, tg, "health_check")
	if got := literalString(t, hc, "path"); got != readyPath {
		t.Errorf("health check path = %q, want cadbox's readiness route %q", got, readyPath)
	}
	if got := literalString(t, hc, "matcher"); got != "200" {
		t.Errorf("health check matcher = %q, want \"200\"", got)
	}
	if p, ok := hc.Attributes["port"]; ok {
		if v, _ := p.Expr.Value(nil); v.AsString() != "traffic-port" {
			t.Errorf("health check port = %s, want traffic-port", v.GoString())
		}
	}
	interval := literalInt(t, hc, "interval")
	timeout := literalInt(t, hc, "timeout")
	healthy := literalInt(t, hc, "healthy_threshold")
	unhealthy := literalInt(t, hc, "unhealthy_threshold")
	if timeout >= interval {
		t.Errorf("health check timeout %d s must be below its interval %d s", timeout, interval)
	}
	// A fresh instance: boot + attach + start takes well under 30 s, so
	// passing in <= 30 s keeps it within about a minute.
	if in := interval * healthy; in > 30 {
		t.Errorf("a ready instance needs %d s of passing checks to get traffic, want <= 30", in)
	}
	// A failing one is out within about 30 s.
	if out := interval * unhealthy; out > 30 {
		t.Errorf("a failing instance keeps traffic for %d s, want <= 30", out)
	}

	dereg := time.Duration(literalInt(t, tg, "deregistration_delay")) * time.Second
	if dereg < shutdown || dereg > shutdown+30*time.Second {
		t.Errorf("deregistration_delay = %s, want cadbox's shutdown timeout %s plus a small margin", dereg, shutdown)
	}

	// HTTPS listener forwards to it; HTTP only redirects.
	var https, redirect bool
	for _, l := range c.all("resource", "aws_lb_listener") {
		switch literalString(t, l.Body, "protocol") {
		case "HTTPS":
			https = true
			if refs := references(t, l.Body, "certificate_arn"); !slices.Equal(refs, []string{"var.certificate_arn"}) {
				t.Errorf("HTTPS listener certificate = %v, want var.certificate_arn", refs)
			}
		case "HTTP":
			act := nested(t, l.Body, "default_action")
			if literalString(t, act, "type") != "redirect" || literalString(t, nested(t, act, "redirect"), "protocol") != "HTTPS" {
				t.Errorf("%s: the HTTP listener must only redirect to HTTPS", l.Body.SrcRange)
			}
			redirect = true
		}
	}
	if !https || !redirect {
		t.Errorf("want an HTTPS listener and an HTTP->HTTPS redirect (https=%v redirect=%v)", https, redirect)
	}
}

func TestAutoscalingGroupIsOneSelfHealingInstance(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	asg := c.one("resource", "aws_autoscaling_group").Body

	if got := literalString(t, asg, "health_check_type"); got != "ELB" {
		t.Errorf("health_check_type = %q, want ELB (replace instances failing /readyz)", got)
	}
	if g := literalInt(t, asg, "health_check_grace_period"); g <= 0 || g > 600 {
		t.Errorf("health_check_grace_period = %d, want a grace period covering boot (1..600 s)", g)
	}
	for _, k := range []string{"min_size", "max_size", "desired_capacity"} {
		if got := literalInt(t, asg, k); got != 1 {
			t.Errorf("%s = %d, want 1: one bbolt file, one instance", k, got)
		}
	}
	if got := literalInt(t, asg, "wait_for_elb_capacity"); got != 1 {
		t.Errorf("wait_for_elb_capacity = %d, want 1 (apply returns once the instance is healthy)", got)
	}

	lt := c.one("resource", "aws_launch_template")
	ltName := lt.Labels[1]
	ltRef := nested(t, asg, "launch_template")
	if refs := references(t, ltRef, "id"); !slices.Equal(refs, []string{"aws_launch_template." + ltName + ".id"}) {
		t.Errorf("ASG launch_template.id reads %v, want aws_launch_template.%s.id", refs, ltName)
	}
	if refs := references(t, ltRef, "version"); !slices.Equal(refs, []string{"aws_launch_template." + ltName + ".latest_version"}) {
		t.Errorf("ASG launch_template.version reads %v, want the template's latest_version (so a new AMI rolls out)", refs)
	}

	tg := c.one("resource", "aws_lb_target_group")
	if refs := references(t, asg, "target_group_arns"); !slices.Equal(refs, []string{"aws_lb_target_group." + tg.Labels[1] + ".arn"}) {
		t.Errorf("target_group_arns reads %v", refs)
	}

	refresh := nested(t, asg, "instance_refresh")
	if got := literalString(t, refresh, "strategy"); got != "Rolling" {
		t.Errorf("instance_refresh strategy = %q, want Rolling", got)
	}
	// The volume attaches to one instance at a time: the old instance must
	// go before the new one can come up.
	if got := literalInt(t, nested(t, refresh, "preferences"), "min_healthy_percentage"); got != 0 {
		t.Errorf("instance_refresh min_healthy_percentage = %d, want 0 (single-attach data volume)", got)
	}

	// Pinned to the data volume's zone.
	if refs := references(t, asg, "vpc_zone_identifier"); !slices.Equal(refs, []string{"aws_subnet.private[0].id"}) {
		t.Errorf("vpc_zone_identifier reads %v, want only aws_subnet.private[0].id (the data volume's zone)", refs)
	}
	vol := c.one("resource", "aws_ebs_volume", "data").Body
	if refs := references(t, vol, "availability_zone"); !slices.Equal(refs, []string{"local.data_az"}) {
		t.Errorf("data volume availability_zone reads %v, want local.data_az", refs)
	}
	subnet := c.one("resource", "aws_subnet", "private").Body
	if refs := references(t, subnet, "availability_zone"); !slices.Equal(refs, []string{"count.index", "local.azs"}) {
		t.Errorf("private subnet availability_zone reads %v, want local.azs[count.index]", refs)
	}
	var dataAZ []string
	for _, l := range c.all("locals") {
		if _, ok := l.Body.Attributes["data_az"]; ok {
			dataAZ = references(t, l.Body, "data_az")
		}
	}
	if !slices.Equal(dataAZ, []string{"local.azs[0]"}) {
		t.Errorf("local.data_az reads %v, want local.azs[0] (the zone of aws_subnet.private[0])", dataAZ)
	}
}

func TestLaunchTemplateIsLockedDown(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	lt := c.one("resource", "aws_launch_template").Body

	md := nested(t, lt, "metadata_options")
	if got := literalString(t, md, "http_tokens"); got != "required" {
		t.Errorf("metadata_options.http_tokens = %q, want required (IMDSv2 only)", got)
	}
	if got := literalInt(t, md, "http_put_response_hop_limit"); got != 1 {
		t.Errorf("http_put_response_hop_limit = %d, want 1", got)
	}
	if got := literalString(t, md, "instance_metadata_tags"); got != "enabled" {
		t.Errorf("instance_metadata_tags = %q, want enabled (the boot scripts read their settings from tags)", got)
	}
	for _, k := range []string{"key_name", "user_data"} {
		if _, ok := lt.Attributes[k]; ok {
			t.Errorf("launch template sets %s: no SSH keys, no user data", k)
		}
	}
	ni := nested(t, lt, "network_interfaces")
	if literalBool(t, ni, "associate_public_ip_address") {
		t.Error("launch template gives the instance a public IP")
	}
	for _, bdm := range lt.Blocks {
		if bdm.Type == "block_device_mappings" && !literalBool(t, nested(t, bdm.Body, "ebs"), "encrypted") {
			t.Errorf("%s: volume not encrypted", bdm.Body.SrcRange)
		}
	}
	nested(t, lt, "iam_instance_profile")

	vol := c.one("resource", "aws_ebs_volume", "data").Body
	if !literalBool(t, vol, "encrypted") {
		t.Error("data volume is not encrypted")
	}
	if !literalBool(t, nested(t, vol, "lifecycle"), "prevent_destroy") {
		t.Error("data volume lacks prevent_destroy")
	}
}

// The scripts in the AMI read their settings from instance tags; each tag
// they read must be set on the instance by the launch template.
func TestBootScriptsFindTheirTags(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	lt := c.one("resource", "aws_launch_template").Body
	var tagKeys []string
	for _, ts := range lt.Blocks {
		if ts.Type == "tag_specifications" && literalString(t, ts.Body, "resource_type") == "instance" {
			obj, ok := ts.Body.Attributes["tags"].Expr.(*hclsyntax.ObjectConsExpr)
			if !ok {
				t.Fatal("instance tag_specifications.tags must be an object literal")
			}
			for _, item := range obj.Items {
				k, diags := item.KeyExpr.Value(nil)
				if diags.HasErrors() {
					t.Fatalf("tag key: %s", diags.Error())
				}
				tagKeys = append(tagKeys, k.AsString())
			}
		}
	}
	used := regexp.MustCompile(`\$\(imds_tag ([A-Za-z0-9]+)\)`)
	scripts, _ := filepath.Glob(filepath.Join(unitsDir, "*.sh"))
	n := 0
	for _, s := range scripts {
		src, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllStringSubmatch(string(src), -1) {
			n++
			if !slices.Contains(tagKeys, m[1]) {
				t.Errorf("%s reads instance tag %s, which the launch template does not set (has %v)", s, m[1], tagKeys)
			}
		}
	}
	if n < 3 {
		t.Errorf("found only %d tag reads in the boot scripts; expected the volume, bucket and token parameter", n)
	}

	// The policy grants what the scripts do and nothing with a wildcard action.
	policy := c.one("data", "aws_iam_policy_document", "instance").Body
	for _, st := range policy.Blocks {
		body := st.Body
		if st.Type == "dynamic" {
			body = nested(t, st.Body, "content")
		}
		if a, ok := body.Attributes["actions"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("actions must be literal: %s", diags.Error())
			}
			for _, act := range v.AsValueSlice() {
				if strings.Contains(act.AsString(), "*") {
					t.Errorf("%s: wildcard action %s in the instance policy", a.SrcRange, act.AsString())
				}
			}
		}
	}
}

func TestRemoteStateIsS3WithLocking(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	tf := c.one("terraform")
	var backends []string
	for _, b := range tf.Body.Blocks {
		if b.Type == "backend" {
			backends = append(backends, b.Labels[0])
			if b.Labels[0] == "s3" && !literalBool(t, b.Body, "encrypt") {
				t.Error(`backend "s3" without encrypt = true`)
			}
		}
	}
	if !slices.Equal(backends, []string{"s3"}) {
		t.Fatalf(`backends = %v, want exactly backend "s3"`, backends)
	}
	if _, ok := tf.Body.Attributes["required_version"]; !ok {
		t.Error("terraform.required_version is not pinned")
	}

	ex := parseHCLFile(t, filepath.Join(tfDir, "backend.hcl.example"))
	_, lockTable := ex.Attributes["dynamodb_table"]
	lockFile := false
	if _, ok := ex.Attributes["use_lockfile"]; ok {
		lockFile = literalBool(t, ex, "use_lockfile")
	}
	if !lockTable && !lockFile {
		t.Error("backend.hcl.example configures no state locking (dynamodb_table or use_lockfile)")
	}
	for _, k := range []string{"bucket", "key", "region"} {
		literalString(t, ex, k)
	}

	// The bootstrap module creates what the backend needs.
	bc := parseHCLDir(t, bootstrapDir, ".tf")
	bc.one("resource", "aws_s3_bucket")
	table := bc.one("resource", "aws_dynamodb_table").Body
	if got := literalString(t, table, "hash_key"); got != "LockID" {
		t.Errorf("lock table hash_key = %q, want LockID", got)
	}
	bc.one("resource", "aws_s3_bucket_versioning")
	bc.one("resource", "aws_s3_bucket_public_access_block")
	bc.one("resource", "aws_s3_bucket_server_side_encryption_configuration")
}

func TestBackupBucketIsPrivateVersionedEncrypted(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	v := nested(t, c.one("resource", "aws_s3_bucket_versioning", "backup").Body, "versioning_configuration")
	if got := literalString(t, v, "status"); got != "Enabled" {
		t.Errorf("backup bucket versioning = %q", got)
	}
	pab := c.one("resource", "aws_s3_bucket_public_access_block", "backup").Body
	for _, k := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
		if !literalBool(t, pab, k) {
			t.Errorf("backup bucket public access block: %s is not true", k)
		}
	}
	sse := nested(t, nested(t, c.one("resource", "aws_s3_bucket_server_side_encryption_configuration", "backup").Body, "rule"), "apply_server_side_encryption_by_default")
	if got := literalString(t, sse, "sse_algorithm"); got != "aws:kms" {
		t.Errorf("backup bucket sse_algorithm = %q", got)
	}

	for _, o := range []string{"url", "asg_name", "data_volume_id", "backup_bucket"} {
		c.one("output", o)
	}
}

// The old setup slept five minutes in Terraform to let a slow boot finish.
// Nothing here waits for a fixed time: every wait is on a condition.
func TestNothingSleeps(t *testing.T) {
	word := regexp.MustCompile(`(?i)\bsleep\b|time_sleep|sleep\s*\(`)
	checked := 0
	for _, dir := range []string{tfDir, packerDir} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == ".terraform" || path == filepath.Join(tfDir, "internal") {
					return filepath.SkipDir
				}
				return nil
			}
			// This test and its helpers name the word they look for.
			if strings.HasSuffix(path, ".go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checked++
			for i, line := range strings.Split(string(src), "\n") {
				if word.MatchString(line) {
					t.Errorf("%s:%d sleeps: %s", path, i+1, strings.TrimSpace(line))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d files under terraform/ and packer/", checked)
	}
	c := parseHCLDir(t, tfDir, ".tf")
	if n := len(c.all("resource", "time_sleep")); n > 0 {
		t.Errorf("%d time_sleep resources", n)
	}
}

// The admin token only ever comes from SSM: no variable carries a secret.
func TestNoSecretInVariables(t *testing.T) {
	c := parseHCLDir(t, tfDir, ".tf")
	secretish := regexp.MustCompile(`(?i)token|secret|password|api_key`)
	for _, v := range c.all("variable") {
		name := v.Labels[0]
		if secretish.MatchString(name) && !strings.HasSuffix(name, "_parameter") && !strings.HasSuffix(name, "_kms_key_arn") {
			t.Errorf("variable %q looks like it carries a secret; pass the name of an SSM parameter instead", name)
		}
	}
}

func TestCadboxUnitIsHardened(t *testing.T) {
	_, _, shutdown, dataDir := cadboxContract(t)
	u := parseUnit(t, filepath.Join(unitsDir, "cadbox.service"))

	want := map[string]string{
		"Restart":                 "always",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ReadWritePaths":          dataDir,
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictSUIDSGID":        "yes",
		"RestrictNamespaces":      "yes",
		"LockPersonality":         "yes",
		"CapabilityBoundingSet":   "",
		"SystemCallArchitectures": "native",
		"User":                    "cadbox",
		"ExecStart":               "/usr/local/bin/cadbox serve",
	}
	for k, v := range want {
		if _, ok := u["Service"][k]; !ok {
			t.Errorf("cadbox.service: %s is not set", k)
		} else if got := u.last("Service", k); got != v {
			t.Errorf("cadbox.service: %s=%s, want %s", k, got, v)
		}
	}
	envFiles := u["Service"]["EnvironmentFile"]
	if !slices.Contains(envFiles, "/etc/cadbox/env") || !slices.Contains(envFiles, "/run/cadbox/secret.env") {
		t.Errorf("EnvironmentFile = %v, want /etc/cadbox/env and /run/cadbox/secret.env", envFiles)
	}
	stop, err := time.ParseDuration(u.last("Service", "TimeoutStopSec") + "s")
	if err != nil {
		stop, err = time.ParseDuration(u.last("Service", "TimeoutStopSec"))
	}
	if err != nil {
		t.Fatalf("TimeoutStopSec=%q: %v", u.last("Service", "TimeoutStopSec"), err)
	}
	if stop <= shutdown {
		t.Errorf("TimeoutStopSec = %s, must exceed cadbox's shutdown timeout %s", stop, shutdown)
	}
	for _, dep := range []string{"cadbox-data-volume.service", "cadbox-secrets.service"} {
		if !slices.Contains(u.words("Unit", "Requires"), dep) || !slices.Contains(u.words("Unit", "After"), dep) {
			t.Errorf("cadbox.service must Require and come After %s", dep)
		}
		d := parseUnit(t, filepath.Join(unitsDir, dep))
		if !slices.Contains(d.words("Unit", "Before"), "cadbox.service") {
			t.Errorf("%s: Before=cadbox.service missing", dep)
		}
		if d.last("Service", "Type") != "oneshot" || d.last("Service", "RemainAfterExit") != "yes" {
			t.Errorf("%s: want Type=oneshot with RemainAfterExit=yes", dep)
		}
	}
	if got := u.last("Unit", "AssertPathIsMountPoint"); got != dataDir {
		t.Errorf("cadbox.service AssertPathIsMountPoint=%q, want %s: never write the store to the root disk", got, dataDir)
	}

	// Hourly hot backup through the running server, streamed to S3.
	timer := parseUnit(t, filepath.Join(unitsDir, "cadbox-backup.timer"))
	if timer.last("Timer", "OnCalendar") == "" {
		t.Error("cadbox-backup.timer has no OnCalendar")
	}
	b := parseUnit(t, filepath.Join(unitsDir, "cadbox-backup.service"))
	exec := b.last("Service", "ExecStart")
	script, err := os.ReadFile(filepath.Join(unitsDir, filepath.Base(exec)))
	if err != nil {
		t.Fatalf("backup ExecStart %s: %v", exec, err)
	}
	if !regexp.MustCompile(`cadbox backup [^|]*--out -\s*\|[\s\S]*aws s3 cp - "s3://`).Match(script) {
		t.Errorf("%s does not stream `cadbox backup --out -` into `aws s3 cp - s3://...`", exec)
	}
}

func TestPackerTemplate(t *testing.T) {
	c := parseHCLDir(t, packerDir, ".pkr.hcl")
	src := c.one("source", "amazon-ebs").Body
	if _, ok := src.Attributes["source_ami"]; ok {
		t.Error("packer source uses a fixed source_ami; find it with source_ami_filter")
	}
	f := nested(t, src, "source_ami_filter")
	owners := literal(t, f, "owners").AsValueSlice()
	if len(owners) != 1 || owners[0].AsString() != "amazon" {
		t.Errorf("source_ami_filter owners = %v, want [amazon]", owners)
	}
	filters := literal(t, f, "filters").AsValueMap()
	if name := filters["name"].AsString(); !strings.HasPrefix(name, "al2023-ami-") || !strings.HasSuffix(name, "-x86_64") {
		t.Errorf("source AMI name filter %q is not Amazon Linux 2023 x86_64", name)
	}
	if !literalBool(t, f, "most_recent") {
		t.Error("source_ami_filter must pick the most recent image")
	}

	// The AMI is tagged with the cadbox version and commit.
	var tagRefs []string
	for _, l := range c.all("locals") {
		if _, ok := l.Body.Attributes["tags"]; ok {
			tagRefs = references(t, l.Body, "tags")
		}
	}
	for _, want := range []string{"var.cadbox_version", "var.git_commit"} {
		if !slices.Contains(tagRefs, want) {
			t.Errorf("AMI tags do not use %s (have %v)", want, tagRefs)
		}
	}
	if refs := references(t, src, "tags"); !slices.Equal(refs, []string{"local.tags"}) {
		t.Errorf("source tags read %v, want local.tags", refs)
	}

	// The binary from `make build` goes in through a file provisioner.
	build := c.one("build").Body
	var binary bool
	for _, p := range build.Blocks {
		if p.Type == "provisioner" && p.Labels[0] == "file" {
			if d := literalString(t, p.Body, "destination"); d == "/tmp/cadbox" {
				binary = true
			}
		}
	}
	if !binary {
		t.Error("no file provisioner uploads the cadbox binary to /tmp/cadbox")
	}
}
