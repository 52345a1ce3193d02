# Latency-based routing: one record per region, each tied to an HTTPS health check on the
# regional load balancer. A region whose edges are not ready (no documents loaded) drops
# out of DNS; clients are sent to the next-closest healthy region.

locals {
  dns_enabled = var.route53_zone_id != null
  endpoints   = local.dns_enabled ? var.regional_endpoints : {}
}

resource "aws_route53_health_check" "edge" {
  for_each = local.endpoints

  fqdn              = each.value.alb_dns_name
  port              = 443
  type              = "HTTPS"
  resource_path     = var.health_check_path
  request_interval  = 30
  failure_threshold = var.health_check_failure_threshold
  measure_latency   = true
  enable_sni        = true

  tags = merge(var.tags, { Name = "${var.name}-edge-${each.key}" })
}

resource "aws_route53_record" "edge" {
  #checkov:skip=CKV2_AWS_23:The alias target is a regional load balancer created by modules/region and passed in as var.regional_endpoints; checkov cannot follow a module input to the resource.
  for_each = local.endpoints

  zone_id        = var.route53_zone_id
  name           = var.edge_record_name
  type           = "A"
  set_identifier = each.key

  latency_routing_policy {
    region = each.key
  }

  health_check_id = aws_route53_health_check.edge[each.key].id

  alias {
    name                   = each.value.alb_dns_name
    zone_id                = each.value.alb_zone_id
    evaluate_target_health = true
  }

  lifecycle {
    precondition {
      condition     = var.edge_record_name != null
      error_message = "edge_record_name is required when route53_zone_id is set."
    }
  }
}
