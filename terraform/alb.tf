# Public HTTPS entry point. TLS ends here; cadbox serves plain HTTP on 8080
# to the load balancer only.

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "cadbox load balancer: HTTP(S) from clients, 8080 to the instance"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.allowed_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, answered with a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_instance" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to cadbox"
  ip_protocol                  = "tcp"
  from_port                    = aws_lb_target_group.app.port
  to_port                      = aws_lb_target_group.app.port
  referenced_security_group_id = aws_security_group.instance.id
}

resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.alb.id]

  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # cadbox's request timeouts are minutes long (bulk upload and export).
  idle_timeout = 300
}

resource "aws_lb_target_group" "app" {
  name_prefix = "cadbx-"
  port        = 8080 # cadbox's default CADBOX_ADDR
  protocol    = "HTTP"
  vpc_id      = aws_vpc.this.id
  target_type = "instance"

  # cadbox stops accepting new requests on SIGTERM and drains for up to
  # CADBOX_SHUTDOWN_TIMEOUT (20 s); give in-flight requests that long and a
  # margin before the instance is taken away.
  deregistration_delay = 30

  health_check {
    enabled  = true
    protocol = "HTTP"
    port     = "traffic-port"
    # Readiness, not liveness: 200 only once the store is open and the search
    # index caught up. It prints nothing about the environment.
    path    = "/readyz"
    matcher = "200"
    # In service 2 x 10 s after cadbox is ready (instance boot to ready is
    # well under a minute); a failing instance is out after 3 x 10 s = 30 s.
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = { Name = "${var.name}-app" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_route53_record" "app" {
  count = var.route53_zone_id != null && var.domain_name != null ? 1 : 0

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.this.dns_name
    zone_id                = aws_lb.this.zone_id
    evaluate_target_health = true
  }
}
