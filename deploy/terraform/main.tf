# trailbell in AWS: EventBridge pre-filter rule(s), the function, the optional SQS path for
# CloudTrail log files, the Slack secret, a least-privilege role and alarms on the alerter.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  event_patterns = length(var.event_patterns) > 0 ? var.event_patterns : [for p in jsondecode(file("${path.module}/event-patterns.json")) : jsonencode(p)]
  log_path       = var.trail_bucket_name != ""
  bucket_account = var.trail_bucket_account_id != "" ? var.trail_bucket_account_id : data.aws_caller_identity.current.account_id
  bus_name       = var.create_central_bus ? aws_cloudwatch_event_bus.central[0].name : var.event_bus_name
}

resource "aws_secretsmanager_secret" "slack" {
  name_prefix = "${var.name}-slack-"
  description = "trailbell Slack incoming-webhook URL"
}

resource "aws_secretsmanager_secret_version" "slack" {
  count         = nonsensitive(var.slack_webhook_url != null) ? 1 : 0
  secret_id     = aws_secretsmanager_secret.slack.id
  secret_string = var.slack_webhook_url
}

# The Slack app's signing secret: every interaction request is verified with it.
resource "aws_secretsmanager_secret" "signing" {
  count       = var.slack_interactions ? 1 : 0
  name_prefix = "${var.name}-slack-signing-"
  description = "trailbell Slack app signing secret (interactive alerts)"
}

resource "aws_secretsmanager_secret_version" "signing" {
  count         = var.slack_interactions && nonsensitive(var.slack_signing_secret != null) ? 1 : 0
  secret_id     = aws_secretsmanager_secret.signing[0].id
  secret_string = var.slack_signing_secret
}

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "logs" {
  count = local.log_path ? 1 : 0
  name  = "${var.name}-log-files"
  # Six times the function timeout, as Lambda recommends for SQS event sources.
  visibility_timeout_seconds = 720
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letters.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue_policy" "logs" {
  count     = local.log_path ? 1 : 0
  queue_url = aws_sqs_queue.logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "S3ObjectCreatedNotifications"
      Effect    = "Allow"
      Principal = { Service = "s3.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.logs[0].arn
      Condition = {
        ArnLike      = { "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:s3:::${var.trail_bucket_name}" }
        StringEquals = { "aws:SourceAccount" = local.bucket_account }
      }
    }]
  })
}

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeTargetDeadLetters"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.dead_letters.arn
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })
}

resource "aws_dynamodb_table" "dedupe" {
  count        = var.create_dedupe_table ? 1 : 0
  name         = "${var.name}-dedupe"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {
    name = "pk"
    type = "S"
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
}

# State of rules with memory: keys pk and sk, the value in v, TTL on expires.
resource "aws_dynamodb_table" "state" {
  count        = var.create_state_table ? 1 : 0
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"
  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  ttl {
    attribute_name = "expires"
    enabled        = true
  }
}

resource "aws_lambda_function" "trailbell" {
  function_name    = var.name
  role             = aws_iam_role.function.arn
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.architecture]
  memory_size      = 256
  timeout          = 120

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letters.arn
  }

  environment {
    # One destination only: the function refuses to start with both (a configuration in SSM
    # names its receivers and may reference the secret itself).
    variables = merge(
      var.config_parameter_name != "" ? { TRAILBELL_CONFIG_SSM = var.config_parameter_name } : { TRAILBELL_SLACK_WEBHOOK_SECRET = aws_secretsmanager_secret.slack.arn },
      var.create_dedupe_table ? { TRAILBELL_DEDUPE_TABLE = aws_dynamodb_table.dedupe[0].name } : {},
      var.create_state_table ? { TRAILBELL_STATE_TABLE = aws_dynamodb_table.state[0].name } : {},
      length(var.disabled_rules) > 0 ? { TRAILBELL_DISABLE_RULES = join(",", var.disabled_rules) } : {},
      var.slack_interactions ? { TRAILBELL_SLACK_SIGNING_SECRET = "secretsmanager:${aws_secretsmanager_secret.signing[0].arn}" } : {},
    )
  }

  depends_on = [aws_cloudwatch_log_group.function]

  lifecycle {
    precondition {
      condition     = !var.slack_interactions || (var.config_parameter_name != "" && var.create_state_table)
      error_message = "slack_interactions needs config_parameter_name (a configuration with slack_api receivers) and create_state_table (alerts, mutes and the audit log live there)."
    }
  }
}

# Slack's interactivity requests. The URL is public (Slack cannot sign AWS requests); the
# function verifies Slack's signature on every request before reading it, and answers
# anything else 401. These permissions let the URL, and only the URL, invoke it
# (invoked_via_function_url needs the AWS provider 6.29 or later).
resource "aws_lambda_function_url" "interactions" {
  count              = var.slack_interactions ? 1 : 0
  function_name      = aws_lambda_function.trailbell.function_name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "interactions_url" {
  count                  = var.slack_interactions ? 1 : 0
  statement_id           = "slack-interactions-url"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.trailbell.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "interactions_invoke" {
  count                    = var.slack_interactions ? 1 : 0
  statement_id             = "slack-interactions-invoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.trailbell.function_name
  principal                = "*"
  invoked_via_function_url = true
}

resource "aws_lambda_event_source_mapping" "logs" {
  count                   = local.log_path ? 1 : 0
  function_name           = aws_lambda_function.trailbell.arn
  event_source_arn        = aws_sqs_queue.logs[0].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    # Slack takes about one message a second per webhook: keep the fan-out small.
    maximum_concurrency = 2
  }
}

resource "aws_cloudwatch_event_bus" "central" {
  count = var.create_central_bus ? 1 : 0
  name  = var.event_bus_name

  lifecycle {
    precondition {
      condition     = var.event_bus_name != "default" && var.organization_id != ""
      error_message = "create_central_bus needs event_bus_name (not \"default\") and organization_id."
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "central" {
  count          = var.create_central_bus ? 1 : 0
  event_bus_name = aws_cloudwatch_event_bus.central[0].name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TrailbellOrganizationForwarding"
      Effect    = "Allow"
      Principal = "*"
      Action    = "events:PutEvents"
      Resource  = aws_cloudwatch_event_bus.central[0].arn
      Condition = { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } }
    }]
  })
}

resource "aws_cloudwatch_event_rule" "prefilter" {
  count          = length(local.event_patterns)
  name           = "${var.name}-${count.index + 1}"
  description    = "trailbell pre-filter ${count.index + 1} (generated from the enabled rules)"
  event_bus_name = local.bus_name
  event_pattern  = local.event_patterns[count.index]

  lifecycle {
    precondition {
      condition     = var.create_central_bus || var.event_bus_name != "default" || data.aws_region.current.region == "us-east-1"
      error_message = "On the default bus, IAM, Organizations and most sign-in events reach EventBridge only in us-east-1: deploy there or use the central-bus variant."
    }
  }
}

resource "aws_cloudwatch_event_target" "prefilter" {
  count          = length(local.event_patterns)
  rule           = aws_cloudwatch_event_rule.prefilter[count.index].name
  event_bus_name = local.bus_name
  target_id      = "trailbell"
  arn            = aws_lambda_function.trailbell.arn
  dead_letter_config {
    arn = aws_sqs_queue.dead_letters.arn
  }
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }
}

resource "aws_lambda_permission" "events" {
  count         = length(local.event_patterns)
  statement_id  = "events-${count.index + 1}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.trailbell.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.prefilter[count.index].arn
}

# Rules with memory hold records back for the out-of-order tolerance; on a quiet stream this
# schedule lets them be evaluated without waiting for newer events.
resource "aws_cloudwatch_event_rule" "state_tick" {
  count               = var.create_state_table ? 1 : 0
  name                = "${var.name}-state-tick"
  description         = "trailbell evaluates what rules with memory held back"
  schedule_expression = "rate(5 minutes)"
}

resource "aws_cloudwatch_event_target" "state_tick" {
  count     = var.create_state_table ? 1 : 0
  rule      = aws_cloudwatch_event_rule.state_tick[0].name
  target_id = "trailbell"
  arn       = aws_lambda_function.trailbell.arn
}

resource "aws_lambda_permission" "state_tick" {
  count         = var.create_state_table ? 1 : 0
  statement_id  = "state-tick"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.trailbell.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.state_tick[0].arn
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "trailbell failed to process or deliver; failed SQS messages return to the queue, failed events are retried and then dead-lettered"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.trailbell.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn != "" ? [var.alarm_topic_arn] : []
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "events or log-file messages trailbell could not handle are waiting in the dead-letter queue"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letters.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn != "" ? [var.alarm_topic_arn] : []
}
