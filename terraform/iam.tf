# The instance's identity: Session Manager (no SSH anywhere) plus exactly
# three narrow grants: attach the one data volume to a cadbox instance, read
# the one token parameter, and write backups into the one bucket.

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name_prefix        = "${var.name}-instance-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json
}

resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

locals {
  token_parameter_arn = "arn:${local.partition}:ssm:${var.region}:${local.account_id}:parameter${var.admin_token_parameter}"
}

data "aws_iam_policy_document" "instance" {
  statement {
    sid       = "AttachTheDataVolume"
    actions   = ["ec2:AttachVolume"]
    resources = [aws_ebs_volume.data.arn]
  }

  statement {
    sid       = "ToACadboxInstance"
    actions   = ["ec2:AttachVolume"]
    resources = ["arn:${local.partition}:ec2:${var.region}:${local.account_id}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/CadboxAppliance"
      values   = [var.name]
    }
  }

  # Describe calls cannot be scoped to a resource; read-only.
  statement {
    sid       = "SeeWhereTheVolumeIs"
    actions   = ["ec2:DescribeVolumes"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadTheAdminToken"
    actions   = ["ssm:GetParameter"]
    resources = [local.token_parameter_arn]
  }

  # AmazonSSMManagedInstanceCore allows ssm:GetParameter(s) on every
  # parameter; this instance needs exactly one.
  statement {
    sid           = "NoOtherParameters"
    effect        = "Deny"
    actions       = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory"]
    not_resources = [local.token_parameter_arn]
  }

  statement {
    sid       = "WriteBackups"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backup.arn}/backups/*"]
  }

  # SSE-KMS on upload (multipart uploads need Decrypt too), only through S3
  # and only for this bucket.
  statement {
    sid       = "EncryptBackups"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.backup.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.backup.arn, "${aws_s3_bucket.backup.arn}/*"]
    }
  }

  dynamic "statement" {
    for_each = var.admin_token_kms_key_arn == null ? [] : [var.admin_token_kms_key_arn]

    content {
      sid       = "DecryptTheAdminToken"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${var.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "${var.name}-appliance"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}

resource "aws_iam_instance_profile" "instance" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.instance.name
}
