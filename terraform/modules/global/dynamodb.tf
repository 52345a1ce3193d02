# The three DynamoDB tables, laid out as Flagsmith's Edge API lays them out (SPEC §6), as
# global tables: one replica per entry of var.replicas, each encrypted with that region's
# key. Streams are required by global tables (version 2019.11.21).

locals {
  primary_kms_key_arn = module.primary_storage.kms_key_arn
}

resource "aws_dynamodb_table" "documents" {
  name                        = var.documents_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "api_key"
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "api_key"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.primary_kms_key_arn
  }

  dynamic "replica" {
    for_each = var.replicas
    content {
      region_name            = replica.key
      kms_key_arn            = replica.value.kms_key_arn
      point_in_time_recovery = true
      propagate_tags         = true
    }
  }

  tags = merge(var.tags, { Name = var.documents_table_name })

  lifecycle {
    precondition {
      condition     = !contains(keys(var.replicas), data.aws_region.current.name)
      error_message = "var.replicas lists the primary region (this module's provider region); list replica regions only."
    }
  }
}

resource "aws_dynamodb_table" "identities" {
  name                        = var.identities_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "composite_key"
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"
  deletion_protection_enabled = var.table_deletion_protection

  attribute {
    name = "composite_key"
    type = "S"
  }

  attribute {
    name = "environment_api_key"
    type = "S"
  }

  attribute {
    name = "identifier"
    type = "S"
  }

  # Lists and searches identities of one environment (Flagsmith pages it by 1000).
  global_secondary_index {
    name            = "environment_api_key-identifier-index"
    hash_key        = "environment_api_key"
    range_key       = "identifier"
    projection_type = "ALL"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.primary_kms_key_arn
  }

  dynamic "replica" {
    for_each = var.replicas
    content {
      region_name            = replica.key
      kms_key_arn            = replica.value.kms_key_arn
      point_in_time_recovery = true
      propagate_tags         = true
    }
  }

  tags = merge(var.tags, { Name = var.identities_table_name })
}
