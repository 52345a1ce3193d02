# flagedge across three regions:
#
#   eu-west-2 (primary)   core + RDS, primary bucket, tables, edge + sync (publishing)
#   us-east-1             replica bucket + table replicas, edge + sync (analytics only)
#   ap-southeast-1        replica bucket + table replicas, edge + sync (analytics only)
#
# Documents flow core -> sync (eu-west-2) -> primary bucket / tables -> S3 replication and
# DynamoDB global tables -> every region's edges. Analytics flow edges -> regional sync ->
# Postgres in eu-west-2 over VPC peering. Route53 sends each SDK to the nearest healthy region.

locals {
  primary = "eu-west-2"

  # Settings shared by every region.
  region_defaults = {
    documents_table_name  = module.global.documents_table_name
    identities_table_name = module.global.identities_table_name
    # One image holds every binary and its ENTRYPOINT is flagedge-edge; ECS's command only
    # replaces the image's CMD, so each service names its binary as the entry point.
    edge_entry_point = ["flagedge-edge"]
    sync_entry_point = ["flagedge-sync"]
  }
}

# ---------------------------------------------------------------------------------------
# Global: tables, buckets, replication, DNS
# ---------------------------------------------------------------------------------------

module "storage_us_east_1" {
  source    = "../../modules/global/storage"
  providers = { aws = aws.us_east_1 }

  name = var.name
  tags = var.tags
}

module "storage_ap_southeast_1" {
  source    = "../../modules/global/storage"
  providers = { aws = aws.ap_southeast_1 }

  name = var.name
  tags = var.tags
}

module "global" {
  source    = "../../modules/global"
  providers = { aws = aws.eu_west_2 }

  name                      = var.name
  tags                      = var.tags
  table_deletion_protection = var.protect_from_deletion

  replicas = {
    "us-east-1" = {
      kms_key_arn = module.storage_us_east_1.kms_key_arn
      bucket_arn  = module.storage_us_east_1.bucket_arn
    }
    "ap-southeast-1" = {
      kms_key_arn = module.storage_ap_southeast_1.kms_key_arn
      bucket_arn  = module.storage_ap_southeast_1.bucket_arn
    }
  }

  route53_zone_id  = var.route53_zone_id
  edge_record_name = var.edge_domain_name
  regional_endpoints = {
    "eu-west-2"      = { alb_dns_name = module.region_eu_west_2.alb_dns_name, alb_zone_id = module.region_eu_west_2.alb_zone_id }
    "us-east-1"      = { alb_dns_name = module.region_us_east_1.alb_dns_name, alb_zone_id = module.region_us_east_1.alb_zone_id }
    "ap-southeast-1" = { alb_dns_name = module.region_ap_southeast_1.alb_dns_name, alb_zone_id = module.region_ap_southeast_1.alb_zone_id }
  }
}

# ---------------------------------------------------------------------------------------
# Core (eu-west-2), in the primary region's VPC
# ---------------------------------------------------------------------------------------

module "core" {
  source    = "../../modules/core"
  providers = { aws = aws.eu_west_2 }

  name                    = var.name
  tags                    = var.tags
  vpc_id                  = module.region_eu_west_2.vpc_id
  private_subnet_ids      = module.region_eu_west_2.private_subnet_ids
  client_cidr_blocks      = values(var.vpc_cidrs)
  core_image              = var.image
  core_entry_point        = ["flagedge-core"]
  core_command            = ["serve"]
  domain_name             = var.core_domain_name
  route53_zone_id         = var.route53_zone_id
  alb_deletion_protection = var.protect_from_deletion
  db_deletion_protection  = var.protect_from_deletion
  db_skip_final_snapshot  = !var.protect_from_deletion

  secret_replica_regions = {
    "us-east-1"      = module.storage_us_east_1.kms_key_arn
    "ap-southeast-1" = module.storage_ap_southeast_1.kms_key_arn
  }
}

# ---------------------------------------------------------------------------------------
# Serving regions
# ---------------------------------------------------------------------------------------

module "region_eu_west_2" {
  source    = "../../modules/region"
  providers = { aws = aws.eu_west_2 }

  name       = var.name
  tags       = var.tags
  vpc_cidr   = var.vpc_cidrs["eu-west-2"]
  edge_image = var.image
  sync_image = var.image

  document_source       = var.document_source
  documents_bucket_name = module.global.primary_bucket_id
  storage_kms_key_arn   = module.global.primary_kms_key_arn
  documents_table_name  = local.region_defaults.documents_table_name
  identities_table_name = local.region_defaults.identities_table_name
  edge_entry_point      = local.region_defaults.edge_entry_point
  sync_entry_point      = local.region_defaults.sync_entry_point

  sync_publish_documents            = true
  core_url                          = module.core.core_url
  core_token_secret_arn             = module.core.sync_token_secret_arns[local.primary]
  analytics_database_url_secret_arn = module.core.analytics_database_url_secret_arns[local.primary]
  ingest_token_secret_arn           = module.core.ingest_token_secret_arns[local.primary]
  secrets_kms_key_arns              = [module.core.kms_key_arn]
  core_cidr_blocks                  = [var.vpc_cidrs[local.primary]]

  domain_name             = var.edge_domain_name
  route53_zone_id         = var.route53_zone_id
  alb_deletion_protection = var.protect_from_deletion
}

module "region_us_east_1" {
  source    = "../../modules/region"
  providers = { aws = aws.us_east_1 }

  name       = var.name
  tags       = var.tags
  vpc_cidr   = var.vpc_cidrs["us-east-1"]
  edge_image = var.image
  sync_image = var.image

  document_source       = var.document_source
  documents_bucket_name = module.storage_us_east_1.bucket_id
  storage_kms_key_arn   = module.storage_us_east_1.kms_key_arn
  documents_table_name  = local.region_defaults.documents_table_name
  identities_table_name = local.region_defaults.identities_table_name
  edge_entry_point      = local.region_defaults.edge_entry_point
  sync_entry_point      = local.region_defaults.sync_entry_point

  # Documents arrive by S3 replication and global tables; this sync only ingests analytics.
  sync_publish_documents            = false
  analytics_database_url_secret_arn = module.core.analytics_database_url_secret_arns["us-east-1"]
  ingest_token_secret_arn           = module.core.ingest_token_secret_arns["us-east-1"]
  secrets_kms_key_arns              = [module.storage_us_east_1.kms_key_arn]
  core_cidr_blocks                  = [var.vpc_cidrs[local.primary]]

  domain_name             = var.edge_domain_name
  route53_zone_id         = var.route53_zone_id
  alb_deletion_protection = var.protect_from_deletion
}

module "region_ap_southeast_1" {
  source    = "../../modules/region"
  providers = { aws = aws.ap_southeast_1 }

  name       = var.name
  tags       = var.tags
  vpc_cidr   = var.vpc_cidrs["ap-southeast-1"]
  edge_image = var.image
  sync_image = var.image

  document_source       = var.document_source
  documents_bucket_name = module.storage_ap_southeast_1.bucket_id
  storage_kms_key_arn   = module.storage_ap_southeast_1.kms_key_arn
  documents_table_name  = local.region_defaults.documents_table_name
  identities_table_name = local.region_defaults.identities_table_name
  edge_entry_point      = local.region_defaults.edge_entry_point
  sync_entry_point      = local.region_defaults.sync_entry_point

  sync_publish_documents            = false
  analytics_database_url_secret_arn = module.core.analytics_database_url_secret_arns["ap-southeast-1"]
  ingest_token_secret_arn           = module.core.ingest_token_secret_arns["ap-southeast-1"]
  secrets_kms_key_arns              = [module.storage_ap_southeast_1.kms_key_arn]
  core_cidr_blocks                  = [var.vpc_cidrs[local.primary]]

  domain_name             = var.edge_domain_name
  route53_zone_id         = var.route53_zone_id
  alb_deletion_protection = var.protect_from_deletion
}

# ---------------------------------------------------------------------------------------
# Peering: the remote sync services reach Postgres in eu-west-2
# ---------------------------------------------------------------------------------------

module "peering_us_east_1" {
  source = "./peering"
  providers = {
    aws.requester = aws.us_east_1
    aws.accepter  = aws.eu_west_2
  }

  name                      = "${var.name}-us-east-1-to-eu-west-2"
  tags                      = var.tags
  requester_vpc_id          = module.region_us_east_1.vpc_id
  requester_cidr_block      = module.region_us_east_1.vpc_cidr_block
  requester_route_table_ids = module.region_us_east_1.private_route_table_ids
  accepter_vpc_id           = module.region_eu_west_2.vpc_id
  accepter_cidr_block       = module.region_eu_west_2.vpc_cidr_block
  accepter_route_table_ids  = module.region_eu_west_2.private_route_table_ids
  accepter_region           = local.primary
}

module "peering_ap_southeast_1" {
  source = "./peering"
  providers = {
    aws.requester = aws.ap_southeast_1
    aws.accepter  = aws.eu_west_2
  }

  name                      = "${var.name}-ap-southeast-1-to-eu-west-2"
  tags                      = var.tags
  requester_vpc_id          = module.region_ap_southeast_1.vpc_id
  requester_cidr_block      = module.region_ap_southeast_1.vpc_cidr_block
  requester_route_table_ids = module.region_ap_southeast_1.private_route_table_ids
  accepter_vpc_id           = module.region_eu_west_2.vpc_id
  accepter_cidr_block       = module.region_eu_west_2.vpc_cidr_block
  accepter_route_table_ids  = module.region_eu_west_2.private_route_table_ids
  accepter_region           = local.primary
}
