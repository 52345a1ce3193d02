# One serving region: network, an internet-facing HTTPS load balancer, and an ECS Fargate
# cluster running two services:
#   edge  (port 8000) behind the load balancer, reading documents from the regional bucket
#         or the regional replica of the documents table;
#   sync  (port 8090) reachable only from the edges (Cloud Map name), taking their analytics
#         batches and, in the publishing region, pulling documents from core.
# Least privilege is the rule: each service has its own execution role and task role, and
# each security group admits only the hop in front of it.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  edge_port = 8000
  sync_port = 8090

  # Global tables have the same name in every region; the ARN of this region's replica is
  # built from the name rather than passed in.
  table_arn_prefix    = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table"
  documents_table_arn = "${local.table_arn_prefix}/${var.documents_table_name}"
  identities_arn      = "${local.table_arn_prefix}/${var.identities_table_name}"

  bucket_arn = "arn:${local.partition}:s3:::${var.documents_bucket_name}"

  sync_publishes_s3       = var.sync_publish_documents && contains(var.document_sinks, "s3")
  sync_publishes_dynamodb = var.sync_publish_documents && contains(var.document_sinks, "dynamodb")

  ecr_repository_arns = length(var.ecr_repository_arns) > 0 ? var.ecr_repository_arns : ["arn:${local.partition}:ecr:*:${local.account_id}:repository/*"]
}
