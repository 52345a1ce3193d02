# Who may talk to whom:
#   clients  --443/80-->  alb  --8000-->  edge  --8090-->  sync  --443/5432-->  core VPC
# Egress on 443 to anywhere is for AWS APIs (ECR, CloudWatch Logs, Secrets Manager; S3 and
# DynamoDB go through the gateway endpoints when the module creates the VPC).

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "flagedge edge load balancer: HTTPS from clients, to edge tasks only"
  vpc_id      = local.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidr_blocks)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_redirect" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (aws_lb_listener.http); no content is served over plain HTTP.
  for_each = toset(var.alb_ingress_cidr_blocks)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_edge" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.edge_port
  to_port                      = local.edge_port
  referenced_security_group_id = aws_security_group.edge.id

  tags = var.tags
}

# --- edge tasks ---------------------------------------------------------------------------------

resource "aws_security_group" "edge" {
  name_prefix = "${var.name}-edge-"
  description = "flagedge edge tasks: from the load balancer only"
  vpc_id      = local.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "edge_from_alb" {
  security_group_id            = aws_security_group.edge.id
  description                  = "SDK traffic from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.edge_port
  to_port                      = local.edge_port
  referenced_security_group_id = aws_security_group.alb.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "edge_https" {
  security_group_id = aws_security_group.edge.id
  description       = "AWS APIs (ECR, S3, DynamoDB, CloudWatch Logs)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "edge_to_sync" {
  security_group_id            = aws_security_group.edge.id
  description                  = "Analytics batches to sync"
  ip_protocol                  = "tcp"
  from_port                    = local.sync_port
  to_port                      = local.sync_port
  referenced_security_group_id = aws_security_group.sync.id

  tags = var.tags
}

# --- sync tasks ---------------------------------------------------------------------------------

resource "aws_security_group" "sync" {
  name_prefix = "${var.name}-sync-"
  description = "flagedge sync tasks: from edge tasks only"
  vpc_id      = local.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-sync" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "sync_from_edge" {
  security_group_id            = aws_security_group.sync.id
  description                  = "Analytics batches from edge tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.sync_port
  to_port                      = local.sync_port
  referenced_security_group_id = aws_security_group.edge.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "sync_https" {
  security_group_id = aws_security_group.sync.id
  description       = "AWS APIs and core over HTTPS"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "sync_postgres" {
  for_each = toset(var.core_cidr_blocks)

  security_group_id = aws_security_group.sync.id
  description       = "Analytics store (Postgres) in the core VPC"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = each.value

  tags = var.tags
}
