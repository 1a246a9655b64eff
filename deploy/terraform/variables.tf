variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "trailbell"
}

variable "lambda_zip" {
  description = "Path of the function package built by `make lambda` (a zip holding bootstrap)."
  type        = string
  default     = "../../build/lambda/trailbell-arm64.zip"
}

variable "architecture" {
  type    = string
  default = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "slack_webhook_url" {
  description = "Slack incoming-webhook URL stored in the secret; null creates the secret without a value (put it later)."
  type        = string
  default     = null
  sensitive   = true
}

variable "config_parameter_name" {
  description = "Optional SSM parameter holding the full trailbell YAML configuration."
  type        = string
  default     = ""
}

variable "event_patterns" {
  description = "EventBridge patterns from `trailbell deploy pattern --format tfvars`; empty uses event-patterns.json (generated from the built-in pack)."
  type        = list(string)
  default     = []
}

variable "event_bus_name" {
  description = "Bus the rules listen on: \"default\" (in us-east-1) or the central bus created with create_central_bus."
  type        = string
  default     = "default"
}

variable "create_central_bus" {
  description = "Create event_bus_name as a central bus receiving events forwarded by member-forwarder in every account of organization_id."
  type        = bool
  default     = false
}

variable "organization_id" {
  type    = string
  default = ""
}

variable "trail_bucket_name" {
  description = "Bucket of the CloudTrail log files; empty disables the S3/SQS path."
  type        = string
  default     = ""
}

variable "trail_bucket_account_id" {
  description = "Account owning the bucket when it is a log-archive account; its bucket policy must grant function_role_arn s3:GetObject."
  type        = string
  default     = ""
}

variable "trail_prefix" {
  type    = string
  default = "AWSLogs/"
}

variable "trail_kms_key_arn" {
  description = "KMS key of an SSE-KMS trail; empty when not encrypted with KMS."
  type        = string
  default     = ""
}

variable "create_dedupe_table" {
  description = "DynamoDB table so a redelivered event never alerts twice; without it delivery is at-least-once."
  type        = bool
  default     = false
}

variable "create_state_table" {
  description = "DynamoDB table keeping the state of rules with memory (thresholds, sequences, first seen) and the actors behind role sessions; without it those rules are off."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  type    = string
  default = ""
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "disabled_rules" {
  description = "Rule ids the function ignores; generate event_patterns with `trailbell deploy pattern --disable ID` for each of them."
  type        = list(string)
  default     = []
}

variable "slack_interactions" {
  description = "Interactive alerts (acknowledge, ask the actor, mute): a function URL for Slack's interactivity requests (output interactions_url, for the app manifest in deploy/slack) and the app's signing secret. Needs config_parameter_name (slack_api receivers) and create_state_table."
  type        = bool
  default     = false
}

variable "slack_signing_secret" {
  description = "The Slack app's signing secret, stored in a secret of its own; null creates the secret without a value (put it later)."
  type        = string
  default     = null
  sensitive   = true
}
