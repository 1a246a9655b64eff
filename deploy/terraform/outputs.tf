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
