resource "aws_cloudwatch_log_group" "edge" {
  name              = "/flagedge/${var.name}/edge"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-edge" })
}

resource "aws_cloudwatch_log_group" "sync" {
  name              = "/flagedge/${var.name}/sync"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-sync" })
}
