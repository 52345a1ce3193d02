variable "name" {
  type        = string
  description = "Name prefix for every resource (e.g. \"flagedge\")."
  default     = "flagedge"
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource."
  default     = {}
}

# --- Network ------------------------------------------------------------------------------------

variable "vpc_id" {
  type        = string
  description = "VPC for core, its internal load balancer and RDS (typically modules/region's VPC in the core region)."
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Private subnets in at least two AZs for RDS, the core tasks and the internal load balancer."

  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs at least two subnets (two AZs) for Multi-AZ RDS and the load balancer."
  }
}

variable "client_cidr_blocks" {
  type        = list(string)
  description = "CIDR blocks of the sync tasks (this VPC and peered regional VPCs) allowed to reach core's load balancer on 443 and Postgres on 5432."
}

# --- core service -------------------------------------------------------------------------------

variable "core_image" {
  type        = string
  description = "Container image of flagedge-core."
}

variable "core_entry_point" {
  type        = list(string)
  description = "Entry point of the core container. The default suits the project's one image, whose own ENTRYPOINT is flagedge-edge; null keeps the image's ENTRYPOINT (for an image built for core alone)."
  default     = ["flagedge-core"]
}

variable "core_command" {
  type        = list(string)
  description = "Arguments after the entry point: flagedge-core's subcommand. serve applies migrations, then serves the API; null keeps the image's CMD."
  default     = ["serve"]
}

variable "cpu_architecture" {
  type        = string
  description = "CPU architecture of the image: X86_64 or ARM64."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "core_cpu" {
  type        = number
  description = "Fargate CPU units of one core task."
  default     = 512
}

variable "core_memory" {
  type        = number
  description = "Fargate memory (MiB) of one core task."
  default     = 1024
}

variable "core_desired_count" {
  type        = number
  description = "Number of core tasks."
  default     = 2
}

variable "core_health_check_path" {
  type        = string
  description = "Path the load balancer polls on core."
  default     = "/health"
}

variable "core_environment" {
  type        = map(string)
  description = "Extra environment variables for the core container (FLAGEDGE_* settings)."
  default     = {}
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the core task may pull from. Empty: any repository of this account."
  default     = []
}

# --- internal load balancer and TLS -------------------------------------------------------------

variable "domain_name" {
  type        = string
  description = "Name of core's internal endpoint, e.g. core.example.com. An alias record to the internal load balancer is created when route53_zone_id is set."
  default     = null
}

variable "route53_zone_id" {
  type        = string
  description = "Hosted zone for domain_name (certificate validation and the alias record). null: neither is created."
  default     = null
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the internal HTTPS listener. null: a DNS-validated certificate for domain_name is requested."
  default     = null
}

variable "ssl_policy" {
  type        = string
  description = "TLS policy of the internal HTTPS listener."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Turn on deletion protection for the internal load balancer."
  default     = true
}

variable "alb_access_logs_bucket" {
  type        = string
  description = "S3 bucket for load balancer access logs. null: off."
  default     = null
}

# --- RDS ------------------------------------------------------------------------------------------

variable "db_engine_version" {
  type        = string
  description = "PostgreSQL engine version (major 15; a minor such as \"15.8\" pins it)."
  default     = "15"

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 15 (\"15\" or \"15.x\")."
  }
}

variable "db_instance_class" {
  type        = string
  description = "RDS instance class (Performance Insights needs db.t4g.medium or larger)."
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  type        = number
  description = "Initial storage in GiB."
  default     = 50
}

variable "db_max_allocated_storage" {
  type        = number
  description = "Ceiling for storage autoscaling, in GiB."
  default     = 500
}

variable "db_name" {
  type        = string
  description = "Database name."
  default     = "flagedge"
}

variable "db_username" {
  type        = string
  description = "Master user name."
  default     = "flagedge"
}

variable "db_multi_az" {
  type        = bool
  description = "Run a synchronous standby in a second AZ."
  default     = true
}

variable "db_deletion_protection" {
  type        = bool
  description = "Turn on RDS deletion protection."
  default     = true
}

variable "db_skip_final_snapshot" {
  type        = bool
  description = "Skip the final snapshot when the instance is destroyed (test accounts only)."
  default     = false
}

variable "db_backup_retention_days" {
  type        = number
  description = "Days automated backups are kept (1-35)."
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "db_backup_window" {
  type        = string
  description = "Daily backup window (UTC)."
  default     = "02:00-03:00"
}

variable "db_maintenance_window" {
  type        = string
  description = "Weekly maintenance window (UTC)."
  default     = "sun:03:30-sun:04:30"
}

variable "db_performance_insights_enabled" {
  type        = bool
  description = "Turn on Performance Insights."
  default     = true
}

variable "db_performance_insights_retention_days" {
  type        = number
  description = "Performance Insights retention in days (7, or a multiple of 31 up to 731)."
  default     = 7
}

variable "db_monitoring_interval" {
  type        = number
  description = "Enhanced Monitoring interval in seconds (0 turns it off; 1, 5, 10, 15, 30 or 60)."
  default     = 60
}

# --- Secrets and logs -----------------------------------------------------------------------------

variable "secret_recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored (0 deletes at once)."
  default     = 30
}

variable "secret_replica_regions" {
  type        = map(string)
  description = "Regions the analytics database URL, the sync token and the analytics ingest token are replicated to, mapped to the KMS key ARN to encrypt the replica with there (e.g. modules/global/storage's key). The regional sync (and, for the ingest token, edge) services read the replica in their own region."
  default     = {}
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the core log group, in days."
  default     = 365
}

variable "log_kms_key_arn" {
  type        = string
  description = "KMS key for the core log group. null: CloudWatch's default encryption."
  default     = null
}
