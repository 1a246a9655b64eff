# The function's role: logs, its Slack secret, the dead-letter queue for failed asynchronous
# invocations, and, only when configured, the log queue, the trail prefix, the trail's KMS key,
# the dedupe and state tables, the configuration parameter, and for interactive alerts the
# Slack signing secret and the function itself. Nothing else.

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "function" {
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function.arn}:*"]
  }
  statement {
    sid       = "SlackSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.slack.arn]
  }
  statement {
    sid       = "AsyncDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]
  }
  dynamic "statement" {
    for_each = local.log_path ? [1] : []
    content {
      sid       = "LogQueue"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.logs[0].arn]
    }
  }
  dynamic "statement" {
    for_each = local.log_path ? [1] : []
    content {
      sid       = "TrailLogFiles"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${var.trail_bucket_name}/${var.trail_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.log_path && var.trail_kms_key_arn != "" ? [1] : []
    content {
      sid       = "TrailKmsKey"
      actions   = ["kms:Decrypt"]
      resources = [var.trail_kms_key_arn]
    }
  }
  dynamic "statement" {
    for_each = var.create_dedupe_table ? [1] : []
    content {
      sid       = "DedupeTable"
      actions   = ["dynamodb:PutItem", "dynamodb:DeleteItem"]
      resources = [aws_dynamodb_table.dedupe[0].arn]
    }
  }
  dynamic "statement" {
    for_each = var.create_state_table ? [1] : []
    content {
      sid = "StateTable"
      actions = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
      "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"]
      resources = [aws_dynamodb_table.state[0].arn]
    }
  }
  dynamic "statement" {
    for_each = var.slack_interactions ? [1] : []
    content {
      sid       = "SlackSigningSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [aws_secretsmanager_secret.signing[0].arn]
    }
  }
  dynamic "statement" {
    # The function URL answers Slack at once; the work is done by an asynchronous
    # invocation of the function by itself.
    for_each = var.slack_interactions ? [1] : []
    content {
      sid       = "InvokeSelfForInteractionWork"
      actions   = ["lambda:InvokeFunction"]
      resources = [aws_lambda_function.trailbell.arn]
    }
  }
  dynamic "statement" {
    for_each = var.config_parameter_name != "" ? [1] : []
    content {
      sid       = "ConfigParameter"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:parameter/${trimprefix(var.config_parameter_name, "/")}"]
    }
  }
}

resource "aws_iam_role" "function" {
  name_prefix        = "${var.name}-"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "function" {
  name   = "trailbell"
  role   = aws_iam_role.function.id
  policy = data.aws_iam_policy_document.function.json
}
