output "url" {
  description = "HTTPS URL of cadbox."
  value       = "https://${var.domain_name != null ? var.domain_name : aws_lb.this.dns_name}"
}

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (point domain_name's record here if Terraform does not manage it)."
  value       = aws_lb.this.dns_name
}

output "asg_name" {
  description = "Name of the autoscaling group (one instance)."
  value       = aws_autoscaling_group.app.name
}

output "data_volume_id" {
  description = "The persistent EBS data volume holding the bbolt store."
  value       = aws_ebs_volume.data.id
}

output "backup_bucket" {
  description = "S3 bucket the hourly hot backups go to (under backups/)."
  value       = aws_s3_bucket.backup.id
}

output "ami_id" {
  description = "AMI the launch template runs."
  value       = aws_launch_template.app.image_id
}
