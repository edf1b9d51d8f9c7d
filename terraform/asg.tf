# One self-healing instance (min = max = 1): the data is one bbolt file on one
# EBS volume, which only one instance can have attached, in one zone. The
# group replaces an instance the load balancer finds unhealthy; the new one
# attaches the same volume at boot. See docs/deploy.md for why and what lies
# past one machine.

data "aws_ami" "cadbox" {
  count = var.ami_id == null ? 1 : 0

  owners      = ["self"]
  most_recent = true

  filter {
    name   = "tag:App"
    values = ["cadbox"]
  }

  dynamic "filter" {
    for_each = var.ami_version == null ? [] : [var.ami_version]

    content {
      name   = "tag:cadbox-version"
      values = [filter.value]
    }
  }
}

resource "aws_security_group" "instance" {
  name_prefix = "${var.name}-instance-"
  description = "cadbox instance: 8080 from the load balancer, HTTPS to the VPC endpoints"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-instance" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "instance_from_alb" {
  security_group_id            = aws_security_group.instance.id
  description                  = "Requests and health checks from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = aws_lb_target_group.app.port
  to_port                      = aws_lb_target_group.app.port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "instance_to_endpoints" {
  security_group_id            = aws_security_group.instance.id
  description                  = "SSM, EC2 API through the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints.id
}

resource "aws_vpc_security_group_egress_rule" "instance_to_s3" {
  security_group_id = aws_security_group.instance.id
  description       = "Backups to S3 through the gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_launch_template" "app" {
  name_prefix   = "${var.name}-"
  description   = "cadbox appliance"
  image_id      = var.ami_id != null ? var.ami_id : data.aws_ami.cadbox[0].id
  instance_type = var.instance_type
  ebs_optimized = true
  # No key_name: there is no SSH. Shell access is Session Manager.
  # No user_data: the AMI's boot units read what they need (volume id,
  # bucket, token parameter name: none of them secret) from the instance
  # tags below through IMDSv2, and the token itself from SSM.

  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.instance.arn
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.instance.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size_gb
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"

    tags = {
      Name                 = var.name
      App                  = var.name
      CadboxAppliance      = var.name
      CadboxDataVolume     = aws_ebs_volume.data.id
      CadboxBackupBucket   = aws_s3_bucket.backup.id
      CadboxTokenParameter = var.admin_token_parameter
    }
  }

  tag_specifications {
    resource_type = "volume"

    tags = {
      Name = "${var.name}-root"
      App  = var.name
    }
  }

  lifecycle {
    precondition {
      condition     = var.ami_id != null || length(data.aws_ami.cadbox) == 1
      error_message = "No AMI: build one with `make ami` or set ami_id."
    }
  }
}

resource "aws_autoscaling_group" "app" {
  name = var.name

  min_size         = 1
  max_size         = 1
  desired_capacity = 1

  # Pinned to the data volume's zone: the private subnet of local.data_az.
  vpc_zone_identifier = [aws_subnet.private[0].id]
  target_group_arns   = [aws_lb_target_group.app.arn]

  launch_template {
    id      = aws_launch_template.app.id
    version = aws_launch_template.app.latest_version
  }

  # Replace the instance when the load balancer's /readyz check fails, not
  # only when EC2 says the machine is broken; the grace period covers boot.
  health_check_type         = "ELB"
  health_check_grace_period = 180
  default_instance_warmup   = 60

  # `terraform apply` returns only once the instance passes /readyz behind
  # the load balancer (bounded by the timeout, never a fixed wait).
  wait_for_elb_capacity     = 1
  wait_for_capacity_timeout = "15m"

  # New AMI / launch template version: replace the instance. The volume can
  # be attached to one instance at a time, so the old one goes first
  # (min_healthy_percentage 0): a rollout is about a minute of 503s.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 0
      max_healthy_percentage = 100
      instance_warmup        = 60
      skip_matching          = true
    }
  }

  enabled_metrics = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupTerminatingInstances"]

  tag {
    key                 = "App"
    value               = var.name
    propagate_at_launch = false
  }

  # The boot units call EC2, SSM and S3 through the endpoints with the
  # instance role: both must exist before the first instance boots.
  depends_on = [
    aws_vpc_endpoint.interface,
    aws_vpc_endpoint.s3,
    aws_route_table_association.private,
    aws_iam_role_policy.instance,
    aws_iam_role_policy_attachment.ssm_core,
  ]

  lifecycle {
    precondition {
      condition     = aws_subnet.private[0].availability_zone == aws_ebs_volume.data.availability_zone
      error_message = "The instance subnet must be in the data volume's availability zone."
    }
  }
}
