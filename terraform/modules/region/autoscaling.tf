# Edge tasks scale out on whichever signal asks for more: average CPU or requests per task
# as counted by the load balancer. Scale-in is slower than scale-out to ride over bursts.

resource "aws_appautoscaling_target" "edge" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.edge.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.edge_min_count
  max_capacity       = var.edge_max_count

  tags = merge(var.tags, { Name = "${var.name}-edge" })
}

resource "aws_appautoscaling_policy" "edge_cpu" {
  name               = "${var.name}-edge-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.edge.service_namespace
  resource_id        = aws_appautoscaling_target.edge.resource_id
  scalable_dimension = aws_appautoscaling_target.edge.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.edge_cpu_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "edge_requests" {
  name               = "${var.name}-edge-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.edge.service_namespace
  resource_id        = aws_appautoscaling_target.edge.resource_id
  scalable_dimension = aws_appautoscaling_target.edge.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.edge_requests_per_target
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.edge.arn_suffix}"
    }
  }
}
