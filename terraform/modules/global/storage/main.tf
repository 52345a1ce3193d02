# One region's share of the global storage: a customer-managed KMS key (used by the
# documents bucket and by this region's DynamoDB global-table replicas) and the
# documents bucket itself.
#
# Terraform cannot pick a provider per `for_each` instance, so the global module creates
# the primary region's storage itself and every replica region calls this module once,
# with that region's provider (see examples/multi-region). The bucket's replication is
# configured by the global module on the primary bucket.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
  partition   = data.aws_partition.current.partition
  bucket_name = "${var.name}-documents-${local.region}-${local.account_id}"
}

# ---------------------------------------------------------------------------------------
# KMS key
# ---------------------------------------------------------------------------------------

resource "aws_kms_key" "this" {
  description             = "${var.name} documents (S3 bucket and DynamoDB replicas) in ${local.region}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days

  # Key administration and use are delegated to IAM in this account: IAM policies decide
  # who may use the key (the ECS task roles and the S3 replication role get narrow grants).
  # The actions are listed instead of "kms:*" so that no statement grants a whole service.
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

  tags = merge(var.tags, { Name = "${var.name}-documents-${local.region}" })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-documents"
  target_key_id = aws_kms_key.this.key_id
}

# ---------------------------------------------------------------------------------------
# Documents bucket
# ---------------------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a further log bucket per region (itself unlogged); audit object access with account-level CloudTrail S3 data events.
  #checkov:skip=CKV_AWS_144:Replica-region buckets are replication destinations; the primary bucket's replication is configured by the global module (aws_s3_bucket_replication_configuration.documents).
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: edges poll the manifest, so event notifications would be unused.
  bucket        = local.bucket_name
  force_destroy = var.force_destroy

  tags = merge(var.tags, { Name = local.bucket_name })
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "expire-old-revisions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

# Refuse plain-HTTP access. The deny lists action families rather than "s3:*" so that no
# statement in this project names a whole service.
resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action = [
          "s3:Get*",
          "s3:List*",
          "s3:Put*",
          "s3:Delete*",
          "s3:Replicate*",
          "s3:Restore*",
          "s3:Abort*",
        ]
        Resource = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = {
          Bool = { "aws:SecureTransport" = "false" }
        }
      },
    ]
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}
