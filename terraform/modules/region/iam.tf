# Four roles, one per service and purpose:
#   <name>-edge-exec / <name>-sync-exec : what ECS needs to start the task (pull the image,
#                                          write its log group, read its secrets);
#   <name>-edge-task / <name>-sync-task : what the running binary may do.
# edge: read documents (bucket prefix or the documents table, whose manifest item carries the server-side keys), read/write the
#       identities table (when the identity store is on). Nothing else.
# sync: write documents (S3 put, DynamoDB put/update on the documents table) only
#       in the publishing region. Analytics go to Postgres over the network, so they need no
#       IAM grant; the database URL is a secret that only sync's execution role can read.

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    sid     = "EcsTasksAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

# ---------------------------------------------------------------------------------------
# Execution roles
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "edge_execution" {
  name_prefix        = "${var.name}-edge-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(var.tags, { Name = "${var.name}-edge-execution" })
}

resource "aws_iam_role" "sync_execution" {
  name_prefix        = "${var.name}-sync-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(var.tags, { Name = "${var.name}-sync-execution" })
}

data "aws_iam_policy_document" "edge_execution" {
  statement {
    sid = "EcrAuthToken"
    # GetAuthorizationToken has no resource-level permissions; "*" is the only valid resource.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = local.ecr_repository_arns
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.edge.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.edge_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadEdgeSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.edge_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.edge_secret_arns) > 0 && length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptEdgeSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

locals {
  sync_secret_arns = compact([var.analytics_database_url_secret_arn, var.core_token_secret_arn, var.ingest_token_secret_arn])
  edge_secret_arns = compact([var.ingest_token_secret_arn])
}

data "aws_iam_policy_document" "sync_execution" {
  statement {
    sid       = "EcrAuthToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = local.ecr_repository_arns
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.sync.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.sync_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSyncSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.sync_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.sync_secret_arns) > 0 && length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSyncSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "edge_execution" {
  name   = "start-edge-task"
  role   = aws_iam_role.edge_execution.id
  policy = data.aws_iam_policy_document.edge_execution.json
}

resource "aws_iam_role_policy" "sync_execution" {
  name   = "start-sync-task"
  role   = aws_iam_role.sync_execution.id
  policy = data.aws_iam_policy_document.sync_execution.json
}

# ---------------------------------------------------------------------------------------
# Task roles
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "edge_task" {
  name_prefix        = "${var.name}-edge-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(var.tags, { Name = "${var.name}-edge-task" })
}

resource "aws_iam_role" "sync_task" {
  name_prefix        = "${var.name}-sync-task-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = merge(var.tags, { Name = "${var.name}-sync-task" })
}

data "aws_iam_policy_document" "edge_task" {
  # --- documents from S3 ---
  dynamic "statement" {
    for_each = var.document_source == "s3" ? [1] : []
    content {
      sid       = "ReadDocumentObjects"
      actions   = ["s3:GetObject"]
      resources = ["${local.bucket_arn}/${var.documents_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.document_source == "s3" ? [1] : []
    content {
      sid       = "ListDocumentObjects"
      actions   = ["s3:ListBucket"]
      resources = [local.bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.documents_prefix}/*"]
      }
    }
  }

  # --- documents from DynamoDB ---
  dynamic "statement" {
    for_each = var.document_source == "dynamodb" ? [1] : []
    content {
      sid = "ReadDocumentItems"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DescribeTable",
      ]
      resources = [local.documents_table_arn]
    }
  }

  # --- identity store ---
  dynamic "statement" {
    for_each = var.enable_identity_store ? [1] : []
    content {
      sid = "ReadWriteIdentities"
      actions = [
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DescribeTable",
      ]
      resources = [local.identities_arn, "${local.identities_arn}/index/*"]
    }
  }

  # --- the regional storage key, only through S3 or DynamoDB ---
  statement {
    sid       = "DecryptDocuments"
    actions   = ["kms:Decrypt", "kms:DescribeKey"]
    resources = [var.storage_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "s3.${local.region}.amazonaws.com",
        "dynamodb.${local.region}.amazonaws.com",
      ]
    }
  }

  dynamic "statement" {
    for_each = var.enable_identity_store ? [1] : []
    content {
      sid       = "EncryptIdentities"
      actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
      resources = [var.storage_kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["dynamodb.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "edge_task" {
  name   = "edge-documents-and-identities"
  role   = aws_iam_role.edge_task.id
  policy = data.aws_iam_policy_document.edge_task.json
}

data "aws_iam_policy_document" "sync_task" {
  count = var.sync_publish_documents ? 1 : 0

  dynamic "statement" {
    for_each = local.sync_publishes_s3 ? [1] : []
    content {
      sid = "WriteDocumentObjects"
      # GetObject: sync reads the manifest back to skip revisions it already published.
      actions   = ["s3:PutObject", "s3:GetObject"]
      resources = ["${local.bucket_arn}/${var.documents_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.sync_publishes_s3 ? [1] : []
    content {
      sid       = "ListDocumentObjects"
      actions   = ["s3:ListBucket"]
      resources = [local.bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.documents_prefix}/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.sync_publishes_dynamodb ? [1] : []
    content {
      sid = "WriteDocumentItems"
      # GetItem: conditional writes compare the stored revision before replacing an item.
      actions = [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DescribeTable",
      ]
      resources = [local.documents_table_arn]
    }
  }

  statement {
    sid       = "EncryptDocuments"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.storage_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = concat(
        local.sync_publishes_s3 ? ["s3.${local.region}.amazonaws.com"] : [],
        local.sync_publishes_dynamodb ? ["dynamodb.${local.region}.amazonaws.com"] : [],
      )
    }
  }
}

resource "aws_iam_role_policy" "sync_task" {
  count = var.sync_publish_documents ? 1 : 0

  name   = "sync-publish-documents"
  role   = aws_iam_role.sync_task.id
  policy = data.aws_iam_policy_document.sync_task[0].json
}
