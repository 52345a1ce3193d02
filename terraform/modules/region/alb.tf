# The public entry point: HTTPS on 443 (TLS terminated here), HTTP on 80 redirecting to
# HTTPS, one target group of edge tasks health-checked on /ready.

locals {
  create_certificate = var.certificate_arn == null
  certificate_arn    = local.create_certificate ? aws_acm_certificate_validation.this[0].certificate_arn : var.certificate_arn
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The WAF web ACL is optional and supplied by the operator (var.waf_web_acl_arn), who chooses its rule groups, including the Log4j AMR; the edge is Rust and runs no Java.
  name                       = "${var.name}-edge"
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = local.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  idle_timeout               = 120 # SSE streams stay open; the edge sends keep-alives well within this.

  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == null ? [] : [var.alb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${var.name}-edge"
      enabled = true
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    precondition {
      condition     = var.create_vpc || (var.vpc_id != null && length(var.public_subnet_ids) >= 2 && length(var.private_subnet_ids) >= 2)
      error_message = "With create_vpc = false, set vpc_id and at least two public_subnet_ids and two private_subnet_ids."
    }
    precondition {
      condition     = var.certificate_arn != null || (var.domain_name != null && var.route53_zone_id != null)
      error_message = "Set certificate_arn, or domain_name and route53_zone_id for a DNS-validated certificate."
    }
    precondition {
      condition     = !var.sync_publish_documents || var.core_url != null
      error_message = "core_url is required when sync_publish_documents is true."
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_lb_target_group" "edge" {
  name                 = "${var.name}-edge"
  port                 = local.edge_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = local.vpc_id
  deregistration_delay = 30

  health_check {
    path                = "/ready"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Name = "${var.name}-edge" })
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = local.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.edge.arn
  }

  tags = merge(var.tags, { Name = "${var.name}-edge-https" })
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-edge-http-redirect" })
}

# --- Certificate (only when certificate_arn is not given) ------------------------------------

resource "aws_acm_certificate" "this" {
  count = local.create_certificate ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"

  tags = merge(var.tags, { Name = var.domain_name })

  lifecycle {
    create_before_destroy = true
  }
}

# Every region requests a certificate for the same name, and ACM asks for the same
# validation record in each, hence allow_overwrite.
resource "aws_route53_record" "certificate_validation" {
  for_each = local.create_certificate ? {
    for dvo in aws_acm_certificate.this[0].domain_validation_options : dvo.domain_name => {
      name   = dvo.resource_record_name
      type   = dvo.resource_record_type
      record = dvo.resource_record_value
    }
  } : {}

  zone_id         = var.route53_zone_id
  name            = each.value.name
  type            = each.value.type
  records         = [each.value.record]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "this" {
  count = local.create_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}
