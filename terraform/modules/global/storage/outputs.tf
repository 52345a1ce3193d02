output "region" {
  description = "Region this storage lives in."
  value       = local.region
}

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the bucket and this region's DynamoDB replicas."
  value       = aws_kms_key.this.arn
}

output "bucket_id" {
  description = "Name of the documents bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the documents bucket. Available only once versioning is on, so it is safe to use as a replication destination."
  value       = aws_s3_bucket.this.arn

  depends_on = [aws_s3_bucket_versioning.this]
}
