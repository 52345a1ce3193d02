# The primary documents bucket (written by the primary region's sync) and its replication
# into every replica region's bucket. Objects are SSE-KMS encrypted on both sides, so the
# replication role may decrypt with the primary key and encrypt with each replica's key.

module "primary_storage" {
  source = "./storage"

  name                               = var.name
  tags                               = var.tags
  force_destroy                      = var.bucket_force_destroy
  noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  replicate = length(var.replicas) > 0
  # Replication rules need distinct priorities; keys() is sorted, so they are stable.
  replica_regions = keys(var.replicas)
}

data "aws_iam_policy_document" "replication_assume" {
  statement {
    sid     = "S3AssumesReplicationRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  count = local.replicate ? 1 : 0

  name_prefix        = "${var.name}-s3-replication-"
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json

  tags = merge(var.tags, { Name = "${var.name}-s3-replication" })
}

data "aws_iam_policy_document" "replication" {
  count = local.replicate ? 1 : 0

  statement {
    sid       = "ReadReplicationConfiguration"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [module.primary_storage.bucket_arn]
  }

  statement {
    sid = "ReadSourceObjectVersions"
    actions = [
      "s3:GetObjectVersionForReplication",
      "s3:GetObjectVersionAcl",
      "s3:GetObjectVersionTagging",
    ]
    resources = ["${module.primary_storage.bucket_arn}/*"]
  }

  statement {
    sid = "WriteReplicas"
    actions = [
      "s3:ReplicateObject",
      "s3:ReplicateDelete",
      "s3:ReplicateTags",
    ]
    resources = [for r in var.replicas : "${r.bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptSourceObjects"
    actions   = ["kms:Decrypt"]
    resources = [module.primary_storage.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }

  statement {
    sid       = "EncryptReplicaObjects"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [for r in var.replicas : r.kms_key_arn]

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [for region in local.replica_regions : "s3.${region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  count = local.replicate ? 1 : 0

  name   = "replicate-documents"
  role   = aws_iam_role.replication[0].id
  policy = data.aws_iam_policy_document.replication[0].json
}

resource "aws_s3_bucket_replication_configuration" "documents" {
  count = local.replicate ? 1 : 0

  role   = aws_iam_role.replication[0].arn
  bucket = module.primary_storage.bucket_id

  dynamic "rule" {
    for_each = var.replicas
    content {
      id       = "to-${rule.key}"
      priority = index(local.replica_regions, rule.key)
      status   = "Enabled"

      filter {}

      # Delete markers follow the primary, so a replica never serves a document that is
      # gone from the primary.
      delete_marker_replication {
        status = "Enabled"
      }

      source_selection_criteria {
        sse_kms_encrypted_objects {
          status = "Enabled"
        }
      }

      destination {
        bucket        = rule.value.bucket_arn
        storage_class = "STANDARD"

        encryption_configuration {
          replica_kms_key_id = rule.value.kms_key_arn
        }
      }
    }
  }

  depends_on = [module.primary_storage, aws_iam_role_policy.replication]
}
