#   sync (client CIDRs) --443--> core ALB --8080--> core tasks --5432--> RDS
#   sync (client CIDRs) ----------------------------------------5432--> RDS (analytics)

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-core-alb-"
  description = "flagedge core internal load balancer: HTTPS from sync networks"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-core-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.client_cidr_blocks)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from sync"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "alb_to_core" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward to core tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.core_port
  to_port                      = local.core_port
  referenced_security_group_id = aws_security_group.core.id

  tags = var.tags
}

resource "aws_security_group" "core" {
  name_prefix = "${var.name}-core-"
  description = "flagedge core tasks: from the internal load balancer only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-core" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "core_from_alb" {
  security_group_id            = aws_security_group.core.id
  description                  = "API traffic from the internal load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.core_port
  to_port                      = local.core_port
  referenced_security_group_id = aws_security_group.alb.id

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "core_https" {
  security_group_id = aws_security_group.core.id
  description       = "AWS APIs (ECR, Secrets Manager, CloudWatch Logs)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

resource "aws_vpc_security_group_egress_rule" "core_to_db" {
  security_group_id            = aws_security_group.core.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id

  tags = var.tags
}

# No egress rules: the database never opens connections.
resource "aws_security_group" "db" {
  name_prefix = "${var.name}-core-db-"
  description = "flagedge core database: PostgreSQL from core tasks and sync networks"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-core-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_core" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from core tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.core.id

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "db_from_sync" {
  for_each = toset(var.client_cidr_blocks)

  security_group_id = aws_security_group.db.id
  description       = "PostgreSQL (analytics) from sync"
  ip_protocol       = "tcp"
  from_port         = 5432
  to_port           = 5432
  cidr_ipv4         = each.value

  tags = var.tags
}
