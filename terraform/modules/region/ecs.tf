# The ECS cluster, the two task definitions and their services.
#
# The environment variables are the contract with the binaries: every setting of
# flagedge-edge and flagedge-sync is also settable as FLAGEDGE_* (each option's `[env: …]`
# in their --help; tests/deploy checks that every name set here is one a binary reads), and
# var.edge_environment / var.sync_environment override or extend what is set here.
# Neither binary takes a subcommand: the entry point is the binary, the command is empty.

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = merge(var.tags, { Name = var.name })
}

# --- Service discovery: edges find sync as sync.<namespace> ----------------------------------

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = "${var.name}.internal"
  description = "flagedge service names in ${local.region}"
  vpc         = local.vpc_id

  tags = merge(var.tags, { Name = "${var.name}.internal" })
}

resource "aws_service_discovery_service" "sync" {
  name = "sync"

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }

  health_check_custom_config {
    failure_threshold = 1
  }

  tags = merge(var.tags, { Name = "${var.name}-sync" })
}

locals {
  sync_url = "http://sync.${aws_service_discovery_private_dns_namespace.this.name}:${local.sync_port}"
  # Edges ship evaluation counts, and follow sync's change stream, only when there is a token to present.
  ship_analytics = var.ingest_token_secret_arn != null

  edge_environment = merge(
    {
      FLAGEDGE_BIND        = "0.0.0.0:${local.edge_port}"
      FLAGEDGE_SOURCE      = var.document_source
      FLAGEDGE_PERSIST_DIR = "/var/lib/flagedge"
      AWS_REGION           = local.region
    },
    local.ship_analytics ? {
      FLAGEDGE_ANALYTICS_URL = "${local.sync_url}/api/v1/analytics/batch"
      # Pushed changes (the token is the analytics one); the poll stays as the safety net.
      FLAGEDGE_PUSH_URL = "${local.sync_url}/api/v1/changes"
    } : {},
    var.document_source == "s3" ? {
      FLAGEDGE_S3_BUCKET = var.documents_bucket_name
      FLAGEDGE_S3_PREFIX = var.documents_prefix
    } : {},
    var.document_source == "dynamodb" ? {
      FLAGEDGE_DYNAMODB_TABLE = var.documents_table_name
    } : {},
    var.enable_identity_store ? {
      FLAGEDGE_IDENTITY_STORE = "dynamodb"
      FLAGEDGE_IDENTITY_TABLE = var.identities_table_name
    } : {},
    var.edge_environment,
  )

  sync_environment = merge(
    {
      FLAGEDGE_BIND = "0.0.0.0:${local.sync_port}"
      AWS_REGION    = local.region
    },
    # Sync publishes when it has core's URL, to each sink it has a location for.
    var.sync_publish_documents ? {
      FLAGEDGE_CORE_URL = var.core_url
    } : {},
    local.sync_publishes_s3 ? {
      FLAGEDGE_S3_BUCKET = var.documents_bucket_name
      FLAGEDGE_S3_PREFIX = var.documents_prefix
    } : {},
    local.sync_publishes_dynamodb ? {
      FLAGEDGE_DYNAMODB_TABLE = var.documents_table_name
    } : {},
    var.analytics_database_url_secret_arn != null ? {
      FLAGEDGE_ANALYTICS_STORE = "postgres"
    } : {},
    var.sync_environment,
  )

  sync_secrets = concat(
    var.analytics_database_url_secret_arn != null ? [{ name = "FLAGEDGE_ANALYTICS_DATABASE_URL", valueFrom = var.analytics_database_url_secret_arn }] : [],
    var.core_token_secret_arn != null ? [{ name = "FLAGEDGE_CORE_TOKEN", valueFrom = var.core_token_secret_arn }] : [],
    local.ship_analytics ? [{ name = "FLAGEDGE_INGEST_TOKEN", valueFrom = var.ingest_token_secret_arn }] : [],
  )

  edge_secrets = local.ship_analytics ? [{ name = "FLAGEDGE_ANALYTICS_TOKEN", valueFrom = var.ingest_token_secret_arn }] : []
}

# --- edge ------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "edge" {
  family                   = "${var.name}-edge"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.edge_cpu
  memory                   = var.edge_memory
  execution_role_arn       = aws_iam_role.edge_execution.arn
  task_role_arn            = aws_iam_role.edge_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # The last good snapshot is persisted here so an edge can serve while upstream is down.
  volume {
    name = "state"
  }

  container_definitions = jsonencode([
    {
      name                   = "edge"
      image                  = var.edge_image
      entryPoint             = var.edge_entry_point
      command                = var.edge_command
      essential              = true
      readonlyRootFilesystem = true
      stopTimeout            = 30
      portMappings = [
        { containerPort = local.edge_port, protocol = "tcp" },
      ]
      environment = [for k in sort(keys(local.edge_environment)) : { name = k, value = local.edge_environment[k] }]
      secrets     = local.edge_secrets
      mountPoints = [
        { sourceVolume = "state", containerPath = "/var/lib/flagedge", readOnly = false },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.edge.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "edge"
        }
      }
    },
  ])

  tags = merge(var.tags, { Name = "${var.name}-edge" })
}

resource "aws_ecs_service" "edge" {
  name                              = "edge"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.edge.arn
  desired_count                     = var.edge_min_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  propagate_tags                    = "SERVICE"
  enable_ecs_managed_tags           = true

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.edge.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.edge.arn
    container_name   = "edge"
    container_port   = local.edge_port
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = merge(var.tags, { Name = "${var.name}-edge" })

  lifecycle {
    # Auto scaling owns the running count after the first apply.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener.https, aws_iam_role_policy.edge_task]
}

# --- sync ------------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "sync" {
  family                   = "${var.name}-sync"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.sync_cpu
  memory                   = var.sync_memory
  execution_role_arn       = aws_iam_role.sync_execution.arn
  task_role_arn            = aws_iam_role.sync_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "state"
  }

  container_definitions = jsonencode([
    {
      name                   = "sync"
      image                  = var.sync_image
      entryPoint             = var.sync_entry_point
      command                = var.sync_command
      essential              = true
      readonlyRootFilesystem = true
      stopTimeout            = 60 # flushes buffered analytics on SIGTERM
      portMappings = [
        { containerPort = local.sync_port, protocol = "tcp" },
      ]
      environment = [for k in sort(keys(local.sync_environment)) : { name = k, value = local.sync_environment[k] }]
      secrets     = local.sync_secrets
      mountPoints = [
        { sourceVolume = "state", containerPath = "/var/lib/flagedge", readOnly = false },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.sync.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "sync"
        }
      }
    },
  ])

  tags = merge(var.tags, { Name = "${var.name}-sync" })
}

resource "aws_ecs_service" "sync" {
  name                    = "sync"
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.sync.arn
  desired_count           = var.sync_desired_count
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  network_configuration {
    subnets          = local.private_subnet_ids
    security_groups  = [aws_security_group.sync.id]
    assign_public_ip = false
  }

  service_registries {
    registry_arn = aws_service_discovery_service.sync.arn
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = merge(var.tags, { Name = "${var.name}-sync" })

  depends_on = [aws_iam_role_policy.sync_execution]
}
