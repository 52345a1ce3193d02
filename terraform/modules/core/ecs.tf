resource "aws_cloudwatch_log_group" "core" {
  name              = "/flagedge/${var.name}/core"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-core" })
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name}-core"

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = merge(var.tags, { Name = "${var.name}-core" })
}

locals {
  core_environment = merge(
    {
      FLAGEDGE_BIND = "0.0.0.0:${local.core_port}"
      AWS_REGION    = local.region
    },
    var.core_environment,
  )
}

resource "aws_ecs_task_definition" "core" {
  family                   = "${var.name}-core"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.core_cpu
  memory                   = var.core_memory
  execution_role_arn       = aws_iam_role.core_execution.arn
  task_role_arn            = aws_iam_role.core_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([
    {
      name                   = "core"
      image                  = var.core_image
      entryPoint             = var.core_entry_point
      command                = var.core_command
      essential              = true
      readonlyRootFilesystem = true
      stopTimeout            = 30
      portMappings = [
        { containerPort = local.core_port, protocol = "tcp" },
      ]
      environment = [for k in sort(keys(local.core_environment)) : { name = k, value = local.core_environment[k] }]
      secrets = [
        { name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn },
        { name = "FLAGEDGE_SYNC_TOKEN", valueFrom = aws_secretsmanager_secret.sync_token.arn },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.core.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "core"
        }
      }
    },
  ])

  tags = merge(var.tags, { Name = "${var.name}-core" })
}

resource "aws_ecs_service" "core" {
  name                              = "core"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.core.arn
  desired_count                     = var.core_desired_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 120 # migrations run at start-up
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.core.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.core.arn
    container_name   = "core"
    container_port   = local.core_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = merge(var.tags, { Name = "${var.name}-core" })

  depends_on = [aws_lb_listener.https, aws_iam_role_policy.core_execution, aws_secretsmanager_secret_version.database_url]
}
