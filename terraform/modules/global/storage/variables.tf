variable "name" {
  type        = string
  description = "Name prefix for every resource (e.g. \"flagedge\"). Bucket names become <name>-documents-<region>-<account id>."
  default     = "flagedge"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 characters of lower-case letters, digits and hyphens (it is part of an S3 bucket name)."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to every taggable resource."
  default     = {}
}

variable "force_destroy" {
  type        = bool
  description = "Allow Terraform to delete the bucket even when it still holds objects. Keep false outside test accounts."
  default     = false
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which non-current object versions (older document revisions) are deleted."
  default     = 90
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period, in days, before the KMS key is deleted after a destroy (7-30)."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
