# Core: the admin API and document builder (flagedge-core) on ECS Fargate, its PostgreSQL 15
# database on RDS (Multi-AZ, encrypted), the secrets that connect them, and an internal HTTPS
# load balancer through which the publishing sync pulls documents and the change feed.
# Nothing here is reachable from the internet.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  core_port = 8080

  ecr_repository_arns = length(var.ecr_repository_arns) > 0 ? var.ecr_repository_arns : ["arn:${local.partition}:ecr:*:${local.account_id}:repository/*"]
}

# One customer-managed key for core's data at rest: RDS storage, Performance Insights and
# the secrets. Administration and use are delegated to IAM; actions are listed rather than
# "kms:*" so that no statement grants a whole service.
resource "aws_kms_key" "core" {
  description             = "${var.name} core: RDS, Performance Insights and secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:Create*",
          "kms:Describe*",
          "kms:Enable*",
          "kms:List*",
          "kms:Put*",
          "kms:Update*",
          "kms:Revoke*",
          "kms:Disable*",
          "kms:Get*",
          "kms:Delete*",
          "kms:TagResource",
          "kms:UntagResource",
          "kms:ScheduleKeyDeletion",
          "kms:CancelKeyDeletion",
          "kms:RotateKeyOnDemand",
        ]
        Resource = "*"
      },
      {
        Sid       = "AccountUsesKeyThroughIam"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action = [
          "kms:Encrypt",
          "kms:Decrypt",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:DescribeKey",
          "kms:CreateGrant",
          "kms:ListGrants",
          "kms:RevokeGrant",
        ]
        Resource = "*"
      },
    ]
  })

  tags = merge(var.tags, { Name = "${var.name}-core" })
}

resource "aws_kms_alias" "core" {
  name          = "alias/${var.name}-core"
  target_key_id = aws_kms_key.core.key_id
}
