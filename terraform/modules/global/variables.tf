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

# --- DynamoDB -----------------------------------------------------------------------------

variable "documents_table_name" {
  type        = string
  description = "Environment documents table (PK api_key = client-side environment key). Flagsmith's default name is kept so that Flagsmith tooling can read it."
  default     = "flagsmith_environments"
}

variable "identities_table_name" {
  type        = string
  description = "Identities table (PK composite_key = \"<environment key>_<identifier>\", GSI environment_api_key-identifier-index)."
  default     = "flagsmith_identities"
}

variable "table_deletion_protection" {
  type        = bool
  description = "Turn on DynamoDB deletion protection for the two tables."
  default     = true
}

# --- Storage and replication -----------------------------------------------------------------

variable "replicas" {
  type = map(object({
    kms_key_arn = string
    bucket_arn  = string
  }))
  description = "Replica regions, keyed by region name (e.g. \"us-east-1\"), each with the outputs of one modules/global/storage instance in that region. DynamoDB tables get a replica there and the primary bucket replicates into that bucket. The primary region is the region of this module's provider and must not be listed."
  default     = {}
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Allow Terraform to delete the primary bucket while it still holds objects."
  default     = false
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which non-current versions in the primary bucket are deleted."
  default     = 90
}

# --- DNS --------------------------------------------------------------------------------------

variable "route53_zone_id" {
  type        = string
  description = "Public hosted zone for the edge record. null creates no DNS records or health checks."
  default     = null
}

variable "edge_record_name" {
  type        = string
  description = "Fully qualified name SDKs use for the edge, e.g. \"flags.example.com\". Required when route53_zone_id is set."
  default     = null
}

variable "regional_endpoints" {
  type = map(object({
    alb_dns_name = string
    alb_zone_id  = string
  }))
  description = "Regional edge load balancers keyed by region name (outputs alb_dns_name and alb_zone_id of modules/region). One latency record and one health check are created per entry."
  default     = {}
}

variable "health_check_path" {
  type        = string
  description = "Path the Route53 health checks request over HTTPS; /ready answers 200 only once an edge has documents loaded."
  default     = "/ready"
}

variable "health_check_failure_threshold" {
  type        = number
  description = "Consecutive failed Route53 health checks before a region is taken out of DNS."
  default     = 3
}
