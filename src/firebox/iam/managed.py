"""The AWS managed policies functions commonly use, known by ARN (their documents as AWS
publishes them, reduced to the statements that matter to the services firebox serves)."""

from __future__ import annotations

from typing import Any

PREFIX = "arn:aws:iam::aws:policy/"


def _allow(actions: list[str], resource: str = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}],
    }


_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]

# name (after the prefix; service-role/ where AWS keeps it there) → document
MANAGED: dict[str, dict[str, Any]] = {
    "AdministratorAccess": _allow(["*"]),
    "PowerUserAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "NotAction": ["iam:*", "organizations:*", "account:*"],
                "Resource": "*",
            }
        ],
    },
    "ReadOnlyAccess": _allow(
        [
            "lambda:Get*",
            "lambda:List*",
            "logs:Describe*",
            "logs:Get*",
            "logs:FilterLogEvents",
            "s3:Get*",
            "s3:List*",
            "sqs:Get*",
            "sqs:List*",
            "sns:Get*",
            "sns:List*",
            "events:Describe*",
            "events:List*",
            "iam:Get*",
            "iam:List*",
        ]
    ),
    "service-role/AWSLambdaBasicExecutionRole": _allow(_LOGS),
    "service-role/AWSLambdaRole": _allow(["lambda:InvokeFunction"]),
    "service-role/AWSLambdaSQSQueueExecutionRole": _allow(
        ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS]
    ),
    "service-role/AWSLambdaDynamoDBExecutionRole": _allow(
        [
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
            *_LOGS,
        ]
    ),
    "service-role/AWSLambdaKinesisExecutionRole": _allow(
        [
            "kinesis:DescribeStream",
            "kinesis:DescribeStreamSummary",
            "kinesis:GetRecords",
            "kinesis:GetShardIterator",
            "kinesis:ListShards",
            "kinesis:ListStreams",
            *_LOGS,
        ]
    ),
    "service-role/AWSLambdaVPCAccessExecutionRole": _allow(
        [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            *_LOGS,
        ]
    ),
    "AWSLambdaExecute": _allow(["logs:*", "s3:GetObject", "s3:PutObject"]),
    "AWSLambda_FullAccess": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "lambda:*",
                    "logs:*",
                    "iam:GetRole",
                    "iam:ListRoles",
                    "s3:*",
                    "sqs:*",
                    "sns:*",
                    "events:*",
                ],
                "Resource": "*",
            },
            {  # as AWS's: roles may be passed to Lambda only
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}},
            },
        ],
    },
    "AWSLambda_ReadOnlyAccess": _allow(
        ["lambda:Get*", "lambda:List*", "logs:Describe*", "logs:Get*", "logs:FilterLogEvents"]
    ),
    "AmazonS3FullAccess": _allow(["s3:*", "s3-object-lambda:*"]),
    "AmazonS3ReadOnlyAccess": _allow(["s3:Get*", "s3:List*", "s3:Describe*"]),
    "AmazonSQSFullAccess": _allow(["sqs:*"]),
    "AmazonSQSReadOnlyAccess": _allow(
        [
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ListDeadLetterSourceQueues",
            "sqs:ListQueues",
            "sqs:ListQueueTags",
            "sqs:ListMessageMoveTasks",
        ]
    ),
    "AmazonSNSFullAccess": _allow(["sns:*"]),
    "AmazonSNSReadOnlyAccess": _allow(["sns:GetTopicAttributes", "sns:List*"]),
    "AmazonEventBridgeFullAccess": _allow(["events:*", "schemas:*", "scheduler:*", "pipes:*"]),
    "CloudWatchLogsFullAccess": _allow(["logs:*"]),
    "CloudWatchLogsReadOnlyAccess": _allow(
        [
            "logs:Describe*",
            "logs:Get*",
            "logs:List*",
            "logs:StartQuery",
            "logs:StopQuery",
            "logs:TestMetricFilter",
            "logs:FilterLogEvents",
        ]
    ),
    "CloudWatchFullAccess": _allow(["cloudwatch:*", "logs:*"]),
}


def document(arn: str) -> dict[str, Any] | None:
    """The managed policy an ARN names, or None."""
    if not arn.startswith(PREFIX):
        return None
    return MANAGED.get(arn[len(PREFIX) :])


def name_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
