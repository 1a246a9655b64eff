output "function_arn" {
  value = aws_lambda_function.trailbell.arn
}

output "function_role_arn" {
  description = "Grant this role s3:GetObject in the log-archive bucket policy (and kms:Decrypt in the key policy) for the cross-account variant."
  value       = aws_iam_role.function.arn
}

output "log_queue_arn" {
  description = "Point the trail bucket's s3:ObjectCreated:* notification (suffix .json.gz) at this queue."
  value       = local.log_path ? aws_sqs_queue.logs[0].arn : null
}

output "slack_secret_arn" {
  value = aws_secretsmanager_secret.slack.arn
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letters.url
}

output "central_event_bus_arn" {
  description = "Pass to the member-forwarder module in every member account."
  value       = var.create_central_bus ? aws_cloudwatch_event_bus.central[0].arn : null
}

output "interactions_url" {
  description = "The Slack app's interactivity request URL (settings.interactivity.request_url in deploy/slack/manifest.yaml)."
  value       = var.slack_interactions ? "${aws_lambda_function_url.interactions[0].function_url}slack/interactions" : null
}

output "slack_signing_secret_arn" {
  description = "Put the Slack app's signing secret here when it was not given."
  value       = var.slack_interactions ? aws_secretsmanager_secret.signing[0].arn : null
}
