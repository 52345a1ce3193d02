variable "name" {
  type        = string
  description = "Name of the peering connection (Name tag)."
}

variable "tags" {
  type        = map(string)
  description = "Tags applied to the peering connection."
  default     = {}
}

variable "requester_vpc_id" {
  type        = string
  description = "VPC that requests the peering (a regional edge VPC)."
}

variable "requester_cidr_block" {
  type        = string
  description = "CIDR of the requester VPC."
}

variable "requester_route_table_ids" {
  type        = list(string)
  description = "Requester route tables that get a route to the accepter CIDR."
}

variable "accepter_vpc_id" {
  type        = string
  description = "VPC that accepts the peering (the core VPC)."
}

variable "accepter_cidr_block" {
  type        = string
  description = "CIDR of the accepter VPC."
}

variable "accepter_route_table_ids" {
  type        = list(string)
  description = "Accepter route tables that get a route back to the requester CIDR."
}

variable "accepter_region" {
  type        = string
  description = "Region of the accepter VPC."
}
