variable "name" {
  type        = string
  description = "Name prefix for every resource in this region (e.g. \"flagedge\")."
  default     = "flagedge"
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource."
  default     = {}
}

# --- Network ------------------------------------------------------------------------------------

variable "create_vpc" {
  type        = bool
  description = "true: create a VPC with public and private subnets in two AZs. false: use vpc_id, public_subnet_ids and private_subnet_ids."
  default     = true
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR of the VPC to create (create_vpc = true). Must not overlap the other regions' VPCs if they are peered."
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block."
  }
}

variable "availability_zones" {
  type        = list(string)
  description = "Two AZs for the created subnets. Empty: the first two available AZs of the region."
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= 2
    error_message = "availability_zones must be empty or list at least two zones (only the first two are used)."
  }
}

variable "single_nat_gateway" {
  type        = bool
  description = "Create one NAT gateway instead of one per AZ (cheaper, but an AZ outage then cuts the other AZ's egress)."
  default     = false
}

variable "vpc_id" {
  type        = string
  description = "Existing VPC to use when create_vpc = false."
  default     = null
}

variable "public_subnet_ids" {
  type        = list(string)
  description = "Existing public subnets (at least two AZs) for the load balancer when create_vpc = false."
  default     = []
}

variable "private_subnet_ids" {
  type        = list(string)
  description = "Existing private subnets (at least two AZs, with egress to AWS APIs) for the tasks when create_vpc = false."
  default     = []
}

variable "flow_log_retention_days" {
  type        = number
  description = "Retention of the VPC flow log group, in days (created VPC only)."
  default     = 365
}

# --- Images and sizing --------------------------------------------------------------------------

variable "edge_image" {
  type        = string
  description = "Container image of flagedge-edge (e.g. <account>.dkr.ecr.<region>.amazonaws.com/flagedge:1.0.0)."
}

variable "sync_image" {
  type        = string
  description = "Container image of flagedge-sync. Usually the same image as the edge (one image, every binary)."
}

variable "edge_entry_point" {
  type        = list(string)
  description = "Entry point of the edge container: the binary. The default suits the project's one image; null keeps the image's ENTRYPOINT."
  default     = ["flagedge-edge"]
}

variable "edge_command" {
  type        = list(string)
  description = "Arguments after the edge entry point (flagedge-edge takes no subcommand; it is configured through FLAGEDGE_* variables). null: none."
  default     = null
}

variable "sync_entry_point" {
  type        = list(string)
  description = "Entry point of the sync container: the binary. The default suits the project's one image, whose own ENTRYPOINT is flagedge-edge; null keeps the image's ENTRYPOINT (for an image built for sync alone)."
  default     = ["flagedge-sync"]
}

variable "sync_command" {
  type        = list(string)
  description = "Arguments after the sync entry point (flagedge-sync takes no subcommand; it is configured through FLAGEDGE_* variables). null: none."
  default     = null
}

variable "cpu_architecture" {
  type        = string
  description = "CPU architecture of the images: X86_64 or ARM64."
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "edge_cpu" {
  type        = number
  description = "Fargate CPU units of one edge task (1024 = 1 vCPU)."
  default     = 512
}

variable "edge_memory" {
  type        = number
  description = "Fargate memory (MiB) of one edge task."
  default     = 1024
}

variable "sync_cpu" {
  type        = number
  description = "Fargate CPU units of one sync task."
  default     = 512
}

variable "sync_memory" {
  type        = number
  description = "Fargate memory (MiB) of one sync task."
  default     = 1024
}

variable "edge_min_count" {
  type        = number
  description = "Minimum number of edge tasks (also the initial desired count)."
  default     = 2
}

variable "edge_max_count" {
  type        = number
  description = "Maximum number of edge tasks auto scaling may run."
  default     = 10
}

variable "edge_cpu_target" {
  type        = number
  description = "Target average CPU utilisation (%) of the edge service."
  default     = 60
}

variable "edge_requests_per_target" {
  type        = number
  description = "Target ALB RequestCountPerTarget (requests per edge task per minute)."
  default     = 6000
}

variable "sync_desired_count" {
  type        = number
  description = "Number of sync tasks. Publishing is idempotent per revision, so more than one is safe, but one is enough."
  default     = 1
}

# --- Documents and tables -----------------------------------------------------------------------

variable "document_source" {
  type        = string
  description = "Where the edges read environment documents: \"s3\" (the regional documents bucket) or \"dynamodb\" (the regional replica of the documents table)."
  default     = "s3"

  validation {
    condition     = contains(["s3", "dynamodb"], var.document_source)
    error_message = "document_source must be \"s3\" or \"dynamodb\"."
  }
}

variable "documents_bucket_name" {
  type        = string
  description = "This region's documents bucket (global module's primary bucket in the primary region, a modules/global/storage bucket elsewhere)."
}

variable "documents_prefix" {
  type        = string
  description = "Key prefix of the documents in the bucket (<prefix>/<environment key>.json plus the manifest). No leading or trailing slash."
  default     = "environments"
}

variable "storage_kms_key_arn" {
  type        = string
  description = "This region's KMS key that encrypts the documents bucket and the DynamoDB replicas."
}

variable "documents_table_name" {
  type        = string
  description = "Name of the documents global table."
  default     = "flagsmith_environments"
}

variable "identities_table_name" {
  type        = string
  description = "Name of the identities global table."
  default     = "flagsmith_identities"
}

variable "enable_identity_store" {
  type        = bool
  description = "Let the edges persist identities and traits in the identities table (read/write). false: the edge keeps identities in memory only and gets no table access."
  default     = true
}

# --- Sync ---------------------------------------------------------------------------------------

variable "sync_publish_documents" {
  type        = bool
  description = "This region's sync pulls documents from core and publishes them. true in exactly one region (the primary) when S3 replication / global tables carry them to the others; those regions' sync then only ingests analytics."
  default     = true
}

variable "document_sinks" {
  type        = list(string)
  description = "Sinks the publishing sync writes: any of \"s3\" and \"dynamodb\"."
  default     = ["s3", "dynamodb"]

  validation {
    condition     = length(var.document_sinks) > 0 && alltrue([for s in var.document_sinks : contains(["s3", "dynamodb"], s)])
    error_message = "document_sinks must be a non-empty list of \"s3\" and/or \"dynamodb\"."
  }
}

variable "core_url" {
  type        = string
  description = "Base URL of core (e.g. https://core.example.com) that the publishing sync pulls from. Required when sync_publish_documents is true."
  default     = null
}

variable "core_token_secret_arn" {
  type        = string
  description = "Secrets Manager ARN (in this region) of the service token sync presents to core. null: none is injected."
  default     = null
}

variable "ingest_token_secret_arn" {
  type        = string
  description = "Secrets Manager ARN (in this region; replicate the secret) of the bearer token edges present to sync's analytics ingest API (sync's FLAGEDGE_INGEST_TOKEN, edges' FLAGEDGE_ANALYTICS_TOKEN). null: sync's ingest API stays off and edges ship no counts."
  default     = null
}

variable "analytics_database_url_secret_arn" {
  type        = string
  description = "Secrets Manager ARN (in this region; replicate the secret) of the analytics Postgres URL sync writes counts to. null: no analytics store is configured."
  default     = null
}

variable "secrets_kms_key_arns" {
  type        = list(string)
  description = "KMS keys that encrypt the secrets above in this region; the edge and sync execution roles may decrypt with them (via Secrets Manager only)."
  default     = []
}

variable "core_cidr_blocks" {
  type        = list(string)
  description = "CIDR blocks where core's internal load balancer and Postgres live (the core VPC, peered). Sync may open connections to them on 443 and 5432."
  default     = []
}

# --- Load balancer and TLS ----------------------------------------------------------------------

variable "certificate_arn" {
  type        = string
  description = "ACM certificate (in this region) for the HTTPS listener. null: a DNS-validated certificate is requested for domain_name in route53_zone_id."
  default     = null
}

variable "domain_name" {
  type        = string
  description = "Name the edges are served under (e.g. flags.example.com); used for the certificate when certificate_arn is null."
  default     = null
}

variable "route53_zone_id" {
  type        = string
  description = "Public hosted zone in which the certificate is DNS-validated (certificate_arn = null)."
  default     = null
}

variable "ssl_policy" {
  type        = string
  description = "TLS policy of the HTTPS listener."
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_ingress_cidr_blocks" {
  type        = list(string)
  description = "Client CIDR blocks allowed to reach the load balancer on 443 (and 80, which only redirects)."
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  type        = bool
  description = "Turn on deletion protection for the load balancer."
  default     = true
}

variable "alb_access_logs_bucket" {
  type        = string
  description = "S3 bucket (with the ELB log-delivery policy) for load balancer access logs. null: access logs off."
  default     = null
}

variable "waf_web_acl_arn" {
  type        = string
  description = "Regional WAFv2 web ACL to associate with the load balancer. null: none."
  default     = null
}

# --- Logs, registries, extra settings -----------------------------------------------------------

variable "log_retention_days" {
  type        = number
  description = "Retention of the ECS log groups, in days."
  default     = 365
}

variable "log_kms_key_arn" {
  type        = string
  description = "KMS key for the CloudWatch log groups (its policy must allow logs.<region>.amazonaws.com). null: CloudWatch's default encryption."
  default     = null
}

variable "ecr_repository_arns" {
  type        = list(string)
  description = "ECR repositories the tasks may pull from. Empty: any repository of this account, in any region."
  default     = []
}

variable "edge_environment" {
  type        = map(string)
  description = "Extra environment variables for the edge container (FLAGEDGE_* settings); they override the module's values."
  default     = {}
}

variable "sync_environment" {
  type        = map(string)
  description = "Extra environment variables for the sync container; they override the module's values."
  default     = {}
}
