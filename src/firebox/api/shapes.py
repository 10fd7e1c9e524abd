"""How the core's records look on the wire: the shapes of the Lambda API's answers."""

from __future__ import annotations

import time

from firebox.control.concurrency import Provisioned
from firebox.control.event_configs import EventInvokeConfig
from firebox.control.function_urls import FunctionUrl
from firebox.control.http_routes import HttpRoute
from firebox.control.rollouts import Rollout
from firebox.domain.arns import ArnBuilder
from firebox.domain.records import LATEST, AliasRecord, FunctionRecord, iso_timestamp, utc_stamp
from firebox.domain.types import JSONDict


def function_configuration(
    record: FunctionRecord, arns: ArnBuilder, qualifier: str | None = None
) -> JSONDict:
    """Renders the FunctionConfiguration shape of the Lambda API.

    A version's ARN carries its number; a qualifier (an alias, or "$LATEST" in version
    listings) replaces it, as in Lambda's answers to qualified requests.
    """
    qualifier = qualifier or (record.version if record.published else None)
    config: JSONDict = {
        "FunctionName": record.name,
        "FunctionArn": arns.function(record.name, qualifier),
        "Runtime": record.runtime,
        "Role": record.role,
        "Handler": record.handler,
        "CodeSize": record.code_size,
        "Description": record.description,
        "Timeout": record.timeout,
        "MemorySize": record.memory_size,
        "LastModified": iso_timestamp(record.last_modified),
        "CodeSha256": record.code_sha256_b64,
        "Version": record.version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": record.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": list(record.architectures),
        "EphemeralStorage": {"Size": record.ephemeral_storage},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": record.log_format, "LogGroup": record.log_group_name},
    }
    if record.log_format == "JSON":
        config["LoggingConfig"]["ApplicationLogLevel"] = record.application_log_level
        config["LoggingConfig"]["SystemLogLevel"] = record.system_log_level
    if record.environment:
        config["Environment"] = {"Variables": dict(record.environment)}
    if record.dead_letter_target:
        config["DeadLetterConfig"] = {"TargetArn": record.dead_letter_target}
    if record.layers:
        config["Layers"] = [{"Arn": use.arn, "CodeSize": use.code_size} for use in record.layers]
    return config


def alias_configuration(alias: AliasRecord, arns: ArnBuilder) -> JSONDict:
    """Renders the AliasConfiguration shape of the Lambda API."""
    config: JSONDict = {
        "AliasArn": arns.function(alias.function_name, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.weights:
        config["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
    return config


def event_invoke_config(config: EventInvokeConfig, arns: ArnBuilder) -> JSONDict:
    """The FunctionEventInvokeConfig shape."""
    body: JSONDict = {
        "LastModified": config.last_modified,
        "FunctionArn": arns.function(config.function_name, config.qualifier),
        "DestinationConfig": {
            "OnSuccess": {"Destination": config.on_success} if config.on_success else {},
            "OnFailure": {"Destination": config.on_failure} if config.on_failure else {},
        },
    }
    if config.maximum_retry_attempts is not None:
        body["MaximumRetryAttempts"] = config.maximum_retry_attempts
    if config.maximum_event_age is not None:
        body["MaximumEventAgeInSeconds"] = config.maximum_event_age
    return body


def url_config(config: FunctionUrl, arns: ArnBuilder, url: str) -> JSONDict:
    """The FunctionUrlConfig shape."""
    qualifier = None if config.qualifier == LATEST else config.qualifier
    body: JSONDict = {
        "FunctionUrl": url,
        "FunctionArn": arns.function(config.function_name, qualifier),
        "AuthType": config.auth_type,
        "CreationTime": utc_stamp(config.created),
        "LastModifiedTime": utc_stamp(config.modified),
        "InvokeMode": config.invoke_mode,
    }
    if config.cors:
        body["Cors"] = dict(config.cors)
    return body


def provisioned_config(config: Provisioned) -> JSONDict:
    """The ProvisionedConcurrencyConfig shape."""
    available = sum(1 for e in config.environments if e.ready.is_set())
    status = "READY" if available >= config.requested else "IN_PROGRESS"
    if config.failure and available < config.requested:
        status = "FAILED"
    body: JSONDict = {
        "RequestedProvisionedConcurrentExecutions": config.requested,
        "AvailableProvisionedConcurrentExecutions": min(available, config.requested),
        "AllocatedProvisionedConcurrentExecutions": min(len(config.environments), config.requested),
        "Status": status,
        "LastModified": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(config.modified)),
    }
    if status == "FAILED":
        body["StatusReason"] = config.failure
    return body


def route(route: HttpRoute) -> JSONDict:
    """A route, as firebox's route API shows it."""
    return {
        "RouteId": route.id,
        "RouteKey": route.key,
        "FunctionName": route.function_name,
        "Qualifier": route.qualifier,
        "PayloadFormatVersion": route.payload_version,
    }


def rollout(rollout: Rollout) -> JSONDict:
    """A rollout, as firebox's rollout API shows it."""
    return {
        "FunctionName": rollout.function_name, "Alias": rollout.alias,
        "FromVersion": rollout.from_version, "ToVersion": rollout.to_version,
        "Steps": rollout.steps, "IntervalSeconds": rollout.interval_s,
        "MaxErrorRate": rollout.max_error_rate, "MinInvocations": rollout.min_invocations,
        "MinStepInvocations": rollout.min_step_invocations, "State": rollout.state,
        "Step": rollout.step, "Weight": rollout.steps[rollout.step],
        "StepStarted": rollout.step_started, "Reason": rollout.reason, "History": rollout.history,
    }  # fmt: skip
