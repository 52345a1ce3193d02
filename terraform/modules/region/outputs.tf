output "region" {
  description = "Region of this deployment."
  value       = local.region
}

output "vpc_id" {
  description = "VPC the services run in (created or given)."
  value       = local.vpc_id
}

output "vpc_cidr_block" {
  description = "CIDR block of that VPC."
  value       = local.vpc_cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (load balancer)."
  value       = local.public_subnet_ids
}

output "private_subnet_ids" {
  description = "Private subnets (tasks); the core module also places RDS and core here in the core region."
  value       = local.private_subnet_ids
}

output "private_route_table_ids" {
  description = "Route tables of the private subnets created by the module (empty with an existing VPC), for peering routes."
  value       = aws_route_table.private[*].id
}

output "alb_arn" {
  description = "ARN of the edge load balancer."
  value       = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "DNS name of the edge load balancer (target of the latency record)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route53 zone ID of the edge load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "certificate_arn" {
  description = "ARN of the certificate on the HTTPS listener."
  value       = local.certificate_arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "edge_service_name" {
  description = "Name of the edge ECS service."
  value       = aws_ecs_service.edge.name
}

output "sync_service_name" {
  description = "Name of the sync ECS service."
  value       = aws_ecs_service.sync.name
}

output "sync_url" {
  description = "URL edges use to reach sync inside the VPC."
  value       = local.sync_url
}

output "edge_task_role_arn" {
  description = "ARN of the edge task role."
  value       = aws_iam_role.edge_task.arn
}

output "sync_task_role_arn" {
  description = "ARN of the sync task role."
  value       = aws_iam_role.sync_task.arn
}

output "security_group_ids" {
  description = "Security group IDs keyed alb / edge / sync."
  value = {
    alb  = aws_security_group.alb.id
    edge = aws_security_group.edge.id
    sync = aws_security_group.sync.id
  }
}
