variable "name" {
  type        = string
  description = "Name prefix for every resource."
  default     = "flagedge"
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource."
  default = {
    Project   = "flagedge"
    ManagedBy = "terraform"
  }
}

variable "route53_zone_id" {
  type        = string
  description = "Public hosted zone that holds edge_domain_name and core_domain_name."
}

variable "edge_domain_name" {
  type        = string
  description = "Latency-routed name SDKs use, e.g. flags.example.com."
}

variable "core_domain_name" {
  type        = string
  description = "Name of core's internal endpoint, e.g. core.flags.example.com (resolves to private addresses)."
}

variable "image" {
  type        = string
  description = "The flagedge container image (one image, every binary), e.g. <account>.dkr.ecr.eu-west-2.amazonaws.com/flagedge:1.0.0. ECR replication or a registry reachable from every region is assumed."
}

variable "document_source" {
  type        = string
  description = "Where the edges read documents: \"s3\" or \"dynamodb\"."
  default     = "s3"
}

variable "vpc_cidrs" {
  type        = map(string)
  description = "VPC CIDR per region. They must not overlap: the regional VPCs are peered with the core VPC."
  default = {
    "eu-west-2"      = "10.10.0.0/16"
    "us-east-1"      = "10.20.0.0/16"
    "ap-southeast-1" = "10.30.0.0/16"
  }
}

variable "protect_from_deletion" {
  type        = bool
  description = "Deletion protection on tables, load balancers and the database. Set false only to tear a test stack down."
  default     = true
}
