output "edge_url" {
  description = "URL to point Flagsmith SDKs at (latency-routed to the nearest healthy region)."
  value       = "https://${var.edge_domain_name}"
}

output "regional_alb_dns_names" {
  description = "Edge load balancer DNS name per region."
  value = {
    "eu-west-2"      = module.region_eu_west_2.alb_dns_name
    "us-east-1"      = module.region_us_east_1.alb_dns_name
    "ap-southeast-1" = module.region_ap_southeast_1.alb_dns_name
  }
}

output "core_url" {
  description = "Internal URL of core (reachable from the peered VPCs)."
  value       = module.core.core_url
}

output "documents_buckets" {
  description = "Documents bucket per region (eu-west-2 is the primary, the others are replicas)."
  value = {
    "eu-west-2"      = module.global.primary_bucket_id
    "us-east-1"      = module.storage_us_east_1.bucket_id
    "ap-southeast-1" = module.storage_ap_southeast_1.bucket_id
  }
}

output "table_names" {
  description = "DynamoDB global table names (the same in every region)."
  value = {
    documents  = module.global.documents_table_name
    identities = module.global.identities_table_name
  }
}
