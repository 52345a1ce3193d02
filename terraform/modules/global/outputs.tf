output "primary_region" {
  description = "Region of the primary bucket and of the tables' original replica (this module's provider region)."
  value       = data.aws_region.current.name
}

output "primary_bucket_id" {
  description = "Name of the primary documents bucket (the one the primary region's sync writes)."
  value       = module.primary_storage.bucket_id
}

output "primary_bucket_arn" {
  description = "ARN of the primary documents bucket."
  value       = module.primary_storage.bucket_arn
}

output "primary_kms_key_arn" {
  description = "ARN of the primary region's KMS key (primary bucket and primary table replica)."
  value       = module.primary_storage.kms_key_arn
}

output "documents_table_name" {
  description = "Name of the environment documents table (same in every region)."
  value       = aws_dynamodb_table.documents.name
}

output "identities_table_name" {
  description = "Name of the identities table (same in every region)."
  value       = aws_dynamodb_table.identities.name
}

output "table_arns" {
  description = "ARNs of the tables in the primary region, keyed documents / identities."
  value = {
    documents  = aws_dynamodb_table.documents.arn
    identities = aws_dynamodb_table.identities.arn
  }
}

output "replication_role_arn" {
  description = "ARN of the S3 replication role, or null when there are no replica regions."
  value       = try(aws_iam_role.replication[0].arn, null)
}

output "health_check_ids" {
  description = "Route53 health check IDs keyed by region."
  value       = { for region, hc in aws_route53_health_check.edge : region => hc.id }
}

output "edge_fqdn" {
  description = "The latency-routed name SDKs use, or null when DNS is not managed here."
  value       = local.dns_enabled ? var.edge_record_name : null
}
