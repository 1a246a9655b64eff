# trailbell member-account forwarder: EventBridge rule(s) in us-east-1 forwarding the CloudTrail
# events trailbell alerts on to the central bus (the root module with create_central_bus).

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0" # data.aws_region .region; the same major version as the trailbell module, so one configuration can hold both
    }
  }
}

variable "name" {
  type    = string
  default = "trailbell-forward"
}

variable "central_event_bus_arn" {
  description = "central_event_bus_arn output of the trailbell module."
  type        = string
}

variable "event_patterns" {
  description = "Same patterns as the trailbell module; empty uses ../event-patterns.json."
  type        = list(string)
  default     = []
}

data "aws_region" "current" {}

locals {
  event_patterns = length(var.event_patterns) > 0 ? var.event_patterns : [for p in jsondecode(file("${path.module}/../event-patterns.json")) : jsonencode(p)]
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "forward" {
  statement {
    sid       = "CentralBus"
    actions   = ["events:PutEvents"]
    resources = [var.central_event_bus_arn]
  }
}

resource "aws_iam_role" "forward" {
  name_prefix        = "${var.name}-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "forward" {
  name   = "trailbell-forward"
  role   = aws_iam_role.forward.id
  policy = data.aws_iam_policy_document.forward.json
}

resource "aws_cloudwatch_event_rule" "forward" {
  count         = length(local.event_patterns)
  name          = "${var.name}-${count.index + 1}"
  description   = "trailbell forwarder ${count.index + 1} (generated from the enabled rules)"
  event_pattern = local.event_patterns[count.index]

  lifecycle {
    precondition {
      condition     = data.aws_region.current.region == "us-east-1"
      error_message = "IAM, Organizations and most sign-in events reach EventBridge only in us-east-1."
    }
  }
}

resource "aws_cloudwatch_event_target" "forward" {
  count     = length(local.event_patterns)
  rule      = aws_cloudwatch_event_rule.forward[count.index].name
  target_id = "central"
  arn       = var.central_event_bus_arn
  role_arn  = aws_iam_role.forward.arn
}
