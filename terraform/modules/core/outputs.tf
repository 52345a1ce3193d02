output "core_url" {
  description = "Base URL sync uses to reach core (https://<domain_name>, or the internal load balancer's DNS name when no domain is set)."
  value       = var.domain_name != null ? "https://${var.domain_name}" : "https://${aws_lb.this.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of core's internal load balancer."
  value       = aws_lb.this.dns_name
}

output "db_address" {
  description = "Host name of the PostgreSQL instance."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "Port of the PostgreSQL instance."
  value       = aws_db_instance.this.port
}

output "kms_key_arn" {
  description = "ARN of core's KMS key (RDS, Performance Insights, secrets in this region)."
  value       = aws_kms_key.core.arn
}

output "database_url_secret_arn" {
  description = "ARN of the secret holding core's DATABASE_URL."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "analytics_database_url_secret_arns" {
  description = "ARN of the analytics database URL secret in each region it exists in (this one plus secret_replica_regions), keyed by region."
  value       = local.analytics_database_url_secret_arns
}

output "ingest_token_secret_arns" {
  description = "Secrets Manager ARN of the analytics ingest token, by region (the primary and each replica): pass to each region module as ingest_token_secret_arn."
  value       = local.ingest_token_secret_arns
}

output "sync_token_secret_arns" {
  description = "ARN of the sync-to-core token secret in each region it exists in, keyed by region."
  value       = local.sync_token_secret_arns
}

output "security_group_ids" {
  description = "Security group IDs keyed alb / core / db."
  value = {
    alb  = aws_security_group.alb.id
    core = aws_security_group.core.id
    db   = aws_security_group.db.id
  }
}

output "cluster_name" {
  description = "Name of core's ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "service_name" {
  description = "Name of the core ECS service."
  value       = aws_ecs_service.core.name
}
