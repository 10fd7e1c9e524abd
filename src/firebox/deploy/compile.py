"""A resolved serverless.yml compiled into a stack template, as the Framework compiles one for
CloudFormation: the same logical ids and properties, firebox's own type where AWS would use
API Gateway (HTTP routes) or a custom resource (notifications on an existing bucket)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from firebox.deploy import naming
from firebox.deploy.yamlfile import ConfigError

SUPPORTED_EVENTS = ("httpApi", "http", "sqs", "s3", "schedule", "sns", "eventBridge")
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
        }
    ],
}


@dataclass
class Compiled:
    """A template and what the compiler could not carry over."""

    template: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def stack_name(config: Mapping[str, Any]) -> str:
    provider = config["provider"]
    return str(provider.get("stackName") or f"{config['service']}-{provider['stage']}")


def _arn(function_lid: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [function_lid, "Arn"]}


class _Compiler:
    def __init__(self, config: Mapping[str, Any], artifacts: Mapping[str, str],
                 layer_artifacts: Mapping[str, str]) -> None:  # fmt: skip
        self.layer_artifacts = layer_artifacts
        self.config = config
        self.provider: dict[str, Any] = dict(config["provider"])
        self.artifacts = artifacts
        self.resources: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.queue_arns: list[Any] = []
        self._existing_bucket: dict[str, str] = {}  # function → its one `existing: true` bucket
        self.role_statements: list[Any] = []
        self.scheduler: list[str] = []  # functions EventBridge Scheduler invokes (their ARNs)
        self.uses_default_role = False
        self._warned: set[str] = set()
        self._alias = ""  # the function's `provisioned` alias being compiled, if any

    def add(self, logical_id: str, resource: dict[str, Any]) -> None:
        self.resources[logical_id] = resource

    # ----- the whole service ----------------------------------------------------------------
    def compile(self) -> Compiled:
        for plugin in _plugins(self.config.get("plugins")):
            self.warnings.append(f"plugin {plugin}: read, not run (firebox runs no plugins)")
        for key, layer in (self.config.get("layers") or {}).items():
            self.layer(key, layer)
        for key, fn in (self.config.get("functions") or {}).items():
            self.function(key, fn)
        if self.uses_default_role:
            self.default_role()
        template: dict[str, Any] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"The {self.config['service']} service (stage {self.provider['stage']})",
            "Resources": self.resources,
            "Outputs": self.outputs,
        }
        self.merge_resources(template)
        if not template["Outputs"]:
            del template["Outputs"]
        return Compiled(template, self.warnings)

    def default_role(self) -> None:
        """IamRoleLambdaExecution: the functions' role, with provider.iam.role's statements."""
        iam = self.provider.get("iam") or {}
        role: dict[str, Any] = iam["role"] if isinstance(iam.get("role"), dict) else {}
        statements = [
            *(role.get("statements") or []),
            *(self.provider.get("iamRoleStatements") or []),
        ]
        service, stage = self.config["service"], self.provider["stage"]
        region = self.provider["region"]
        logs = (
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
            f"/aws/lambda/{service}-{stage}*"
        )
        statements += self.role_statements  # destinations and dead-letter targets
        trust: dict[str, Any] = copy.deepcopy(LAMBDA_TRUST)
        if self.scheduler:  # EventBridge Scheduler assumes it to invoke the functions
            trust["Statement"][0]["Principal"]["Service"].append("scheduler.amazonaws.com")
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": ["lambda:InvokeFunction"],
                    "Resource": [
                        {"Fn::Sub": f"{arn}{suffix}"}
                        for arn in self.scheduler
                        for suffix in ("", ":*")
                    ],
                }
            )
        if self.queue_arns:  # what polling the functions' queues takes, as one statement
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    "Resource": self.queue_arns,
                }
            )
        properties: dict[str, Any] = {
            "AssumeRolePolicyDocument": trust,
            "Path": role.get("path", "/"),
            "RoleName": role.get("name") or f"{service}-{stage}-{region}-lambdaRole"[:64],
            "Policies": [
                {
                    "PolicyName": f"{service}-{stage}-lambda",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:CreateLogGroup",
                                    "logs:TagResource",
                                ],
                                "Resource": [{"Fn::Sub": f"{logs}:*"}],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["logs:PutLogEvents"],
                                "Resource": [{"Fn::Sub": f"{logs}:*:*"}],
                            },
                            *statements,
                        ],
                    },
                }
            ],
        }
        managed = role.get("managedPolicies") or self.provider.get("iamManagedPolicies")
        if managed:
            properties["ManagedPolicyArns"] = list(managed)
        self.add(naming.ROLE, {"Type": "AWS::IAM::Role", "Properties": properties})

    def merge_resources(self, template: dict[str, Any]) -> None:
        """`resources` merged over the compiled template, every section deeply (lodash's
        merge, as the Framework does), then `extensions` applied to resources already there
        (Properties and Metadata assigned, DependsOn added to, policies replaced)."""
        extra = self.config.get("resources") or {}
        if not isinstance(extra, dict):
            raise ConfigError("resources: expected an object with Resources and Outputs")
        for section, body in extra.items():
            if section != "extensions" and body is not None:
                template[section] = _merge(template.get(section, {}), body)
        for lid, body in (extra.get("extensions") or {}).items():
            resource = template["Resources"].get(lid)
            if resource is None:
                raise ConfigError(
                    f'Cannot extend "{lid}" resource, as it\'s not found in generated stack'
                )
            for member, value in (body or {}).items():
                if member in ("Condition", "CreationPolicy", "DeletionPolicy", "UpdatePolicy",
                              "UpdateReplacePolicy"):  # fmt: skip
                    resource[member] = value
                elif member in ("Properties", "Metadata"):
                    resource.setdefault(member, {}).update(value or {})
                elif member == "DependsOn":
                    current = resource.get("DependsOn", [])
                    current = [current] if isinstance(current, str) else list(current)
                    resource["DependsOn"] = current + list(value or [])
                else:
                    raise ConfigError(
                        f'Cannot extend "{lid}" resource, as extending the '
                        f'"{member}" attribute at this point is not supported.'
                    )

    # ----- one function ---------------------------------------------------------------------
    def function(self, key: str, fn: Mapping[str, Any]) -> None:
        lid = naming.function(key)
        provider = self.provider
        runtime = fn.get("runtime") or provider.get("runtime") or "nodejs16.x"  # (3.40's)
        env = {**(provider.get("environment") or {}), **(fn.get("environment") or {})}
        props: dict[str, Any] = {
            "Code": {"Artifact": self.artifacts[key]},
            "Handler": fn.get("handler"),
            "Runtime": runtime,
            "FunctionName": fn["name"],
            "MemorySize": fn.get("memorySize") or provider.get("memorySize") or 1024,
            "Timeout": fn.get("timeout") or provider.get("timeout") or 6,
        }
        if fn.get("image"):
            raise ConfigError(
                f"functions.{key}.image: firebox runs zip packages, not container images"
            )
        if not fn.get("handler"):
            raise ConfigError(f"functions.{key}: a handler is required")
        for name, member in (
            ("description", "Description"),
            ("reservedConcurrency", "ReservedConcurrentExecutions"),
        ):
            if fn.get(name) is not None:
                props[member] = fn[name]
        if env:
            props["Environment"] = {"Variables": env}
        tags = {**(provider.get("tags") or {}), **(fn.get("tags") or {})}
        if tags:
            props["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        layers = fn.get("layers") or provider.get("layers")
        if layers:
            props["Layers"] = list(layers)
        architecture = fn.get("architecture") or provider.get("architecture")
        if architecture:
            props["Architectures"] = [architecture]
        storage = fn.get("ephemeralStorageSize") or provider.get("ephemeralStorageSize")
        if storage:
            props["EphemeralStorage"] = {"Size": storage}
        if fn.get("onError"):
            target_arn = str(fn["onError"])
            props["DeadLetterConfig"] = {"TargetArn": target_arn}
            statement = _send_statement(target_arn, "onError")
            self.role_statements.append({**statement, "Action": [statement["Action"]],
                                         "Resource": [target_arn]})  # fmt: skip
        props["Role"] = self.role_of(fn)
        # Its log group first (`<Fn>LogGroup`), with the retention asked for, as the
        # Framework makes it: removing the stack deletes the function's logs with it.
        log_group = f"{naming.function_part(key)}LogGroup"
        group_props: dict[str, Any] = {"LogGroupName": f"/aws/lambda/{fn['name']}"}
        retention = fn.get("logRetentionInDays") or provider.get("logRetentionInDays")
        if retention is not None:
            group_props["RetentionInDays"] = retention
        self.add(log_group, {"Type": "AWS::Logs::LogGroup", "Properties": group_props})
        resource: dict[str, Any] = {"Type": "AWS::Lambda::Function", "Properties": props,
                                    "DependsOn": [log_group]}  # fmt: skip
        if self.uses_default_role and props["Role"] == _arn(naming.ROLE):
            resource["DependsOn"].append(naming.ROLE)
        self.add(lid, resource)
        target = self.versions(key, lid, fn, props)
        self.invoke_config(key, lid, fn)
        if fn.get("url"):
            self.url(key, lid, fn["url"], target)
        schedules = 0
        for index, event in enumerate(fn.get("events") or [], 1):
            if not isinstance(event, dict) or len(event) != 1:
                raise ConfigError(
                    f"functions.{key}.events[{index - 1}]: expected one event type per entry"
                )
            ((kind, spec),) = event.items()
            if kind == "schedule":
                for expression in _rates(spec):
                    schedules += 1
                    self.schedule(key, target, spec, expression, schedules)
            elif kind in SUPPORTED_EVENTS:
                getattr(self, f"event_{kind}")(key, target, spec, index)
            else:
                self.warnings.append(
                    f"functions.{key}: {kind} events are not supported by firebox; skipped"
                )

    def layer(self, key: str, layer: Mapping[str, Any]) -> None:
        """A layer of the service's own: `<Layer>LambdaLayer`, a version per change."""
        lid = f"{naming.function_part(key)}LambdaLayer"
        props: dict[str, Any] = {"Content": {"Artifact": self.layer_artifacts[key]},
                                 "LayerName": layer.get("name") or key}  # fmt: skip
        for member, name in (("description", "Description"), ("licenseInfo", "LicenseInfo"),
                             ("compatibleRuntimes", "CompatibleRuntimes"),
                             ("compatibleArchitectures", "CompatibleArchitectures")):  # fmt: skip
            if layer.get(member):
                props[name] = layer[member]
        resource: dict[str, Any] = {"Type": "AWS::Lambda::LayerVersion", "Properties": props}
        if layer.get("retain"):
            resource["DeletionPolicy"] = "Retain"
        self.add(lid, resource)
        self.outputs[f"{lid}QualifiedArn"] = {"Description": "Current Lambda layer version",
                                              "Value": {"Ref": lid}}  # fmt: skip

    def invoke_config(self, key: str, lid: str, fn: Mapping[str, Any]) -> None:
        """`destinations`, `maximumRetryAttempts`, `maximumEventAge`: the function's
        EventInvokeConfig (`<Fn>LambdaEvConf`), and the role's right to send to them."""
        destinations = fn.get("destinations") or {}
        if not isinstance(destinations, dict):
            raise ConfigError(f"functions.{key}.destinations: expected onSuccess / onFailure")
        members = ("maximumRetryAttempts", "maximumEventAge")
        if not destinations and not any(fn.get(m) is not None for m in members):
            return
        props: dict[str, Any] = {"FunctionName": {"Ref": lid}, "Qualifier": "$LATEST"}
        config: dict[str, Any] = {}
        for member, name in (("onSuccess", "OnSuccess"), ("onFailure", "OnFailure")):
            if destinations.get(member):
                arn = self.destination_arn(key, destinations[member])
                local = destinations[member] in (self.config.get("functions") or {})
                # A function of this service: its ARN from the function (as the Framework).
                config[name] = {"Destination": _arn(naming.function(destinations[member]))
                                if local else arn}  # fmt: skip
                self.role_statements.append(_send_statement(arn, f"{key}.destinations"))
        if config:
            props["DestinationConfig"] = config
        if fn.get("maximumEventAge") is not None:
            props["MaximumEventAgeInSeconds"] = fn["maximumEventAge"]
        if fn.get("maximumRetryAttempts") is not None:
            props["MaximumRetryAttempts"] = fn["maximumRetryAttempts"]
        self.add(
            f"{naming.function_part(key)}LambdaEvConf",
            {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": props},
        )

    def destination_arn(self, key: str, destination: Any) -> Any:
        """An ARN, or the name of one of this service's functions (as the Framework takes)."""
        if not isinstance(destination, str) or destination.startswith("arn:"):
            return destination
        functions = self.config.get("functions") or {}
        if destination not in functions:
            raise ConfigError(
                f"functions.{key}.destinations: {destination} is neither an ARN "
                "nor a function of this service"
            )
        name = functions[destination]["name"]
        return {
            "Fn::Sub": f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:"
            f"${{AWS::AccountId}}:function:{name}"
        }

    def role_of(self, fn: Mapping[str, Any]) -> Any:
        role = (
            fn.get("role")
            or (self.provider.get("iam") or {}).get("role")
            or self.provider.get("role")
        )
        if isinstance(role, str):
            # An ARN, or the logical id of a role in `resources`.
            return role if role.startswith("arn:") else _arn(role)
        if isinstance(role, dict) and any(k.startswith("Fn::") for k in role):
            return role
        self.uses_default_role = True
        return _arn(naming.ROLE)

    def versions(self, key: str, lid: str, fn: Mapping[str, Any], props: dict[str, Any]) -> Any:
        """A version per change (versionFunctions), the `provisioned` alias; what events
        target: the function's ARN, or the alias's."""
        versioned = fn.get("versionFunction", self.provider.get("versionFunctions", True))
        provisioned = fn.get("provisionedConcurrency")
        if not versioned:
            if provisioned:
                raise ConfigError(
                    f"functions.{key}.provisionedConcurrency needs versions "
                    "(versionFunctions: true)"
                )
            return _arn(lid)
        described = json.dumps({k: v for k, v in props.items() if k != "Code"}, sort_keys=True)
        digest = hashlib.sha256(f"{props['Code']['Artifact']}\n{described}".encode()).digest()
        version_lid = naming.version(key, base64.b64encode(digest).decode())
        code_sha = base64.b64encode(bytes.fromhex(props["Code"]["Artifact"])).decode()
        version_props = {"FunctionName": {"Ref": lid}, "CodeSha256": code_sha}
        if props.get("Description"):
            version_props["Description"] = props["Description"]
        self.add(
            version_lid,
            {
                "Type": "AWS::Lambda::Version",
                "DeletionPolicy": "Retain",
                "Properties": version_props,
            },
        )
        self.outputs[f"{lid}QualifiedArn"] = {
            "Description": "Current Lambda function version",
            "Value": {"Ref": version_lid},
        }
        if not provisioned:
            return _arn(lid)
        alias_lid = f"{naming.function_part(key)}ProvConcLambdaAlias"
        self.add(
            alias_lid,
            {
                "Type": "AWS::Lambda::Alias",
                "DependsOn": lid,
                "Properties": {
                    "FunctionName": {"Ref": lid},
                    "FunctionVersion": {"Fn::GetAtt": [version_lid, "Version"]},
                    "Name": "provisioned",
                    "ProvisionedConcurrencyConfig": {
                        "ProvisionedConcurrentExecutions": provisioned
                    },
                },
            },
        )
        self._alias = alias_lid
        return {"Fn::Join": [":", [_arn(lid), "provisioned"]]}

    def _depends(self, target: Any) -> list[str]:
        """What a resource targeting `target` waits for (the alias, when it targets one)."""
        if isinstance(target, dict) and "Fn::Join" in target:
            return [self._alias]
        return []

    def url(self, key: str, lid: str, spec: Any, target: Any) -> None:
        spec = spec if isinstance(spec, dict) else {}
        auth = "AWS_IAM" if spec.get("authorizer") == "aws_iam" else "NONE"
        props: dict[str, Any] = {"AuthType": auth, "TargetFunctionArn": target}
        if spec.get("invokeMode"):
            props["InvokeMode"] = spec["invokeMode"]
        cors = spec.get("cors")
        if cors:
            cors = cors if isinstance(cors, dict) else {}
            props["Cors"] = {
                "AllowOrigins": cors.get("allowedOrigins", ["*"]),
                "AllowHeaders": cors.get(
                    "allowedHeaders",
                    [
                        "Content-Type",
                        "X-Amz-Date",
                        "Authorization",
                        "X-Api-Key",
                        "X-Amz-Security-Token",
                    ],
                ),
                "AllowMethods": cors.get("allowedMethods", ["*"]),
            }
            if cors.get("allowCredentials") is not None:
                props["Cors"]["AllowCredentials"] = cors["allowCredentials"]
        depends = self._depends(target)
        self.add(
            f"{lid}Url",
            {
                "Type": "AWS::Lambda::Url",
                "Properties": props,
                **({"DependsOn": depends} if depends else {}),
            },
        )
        if auth == "NONE":
            self.add(
                f"{naming.function_part(key)}LambdaPermissionFnUrl",
                {
                    "Type": "AWS::Lambda::Permission",
                    "Properties": {
                        "FunctionName": target,
                        "Action": "lambda:InvokeFunctionUrl",
                        "Principal": "*",
                        "FunctionUrlAuthType": "NONE",
                    },
                    **({"DependsOn": depends} if depends else {}),
                },
            )
        self.outputs[f"{lid}Url"] = {
            "Description": "Lambda Function URL",
            "Value": {"Fn::GetAtt": [f"{lid}Url", "FunctionUrl"]},
        }

    def permission(
        self,
        lid: str,
        target: Any,
        principal: str,
        source_arn: Any = None,
        depends: list[str] | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "FunctionName": target,
            "Action": "lambda:InvokeFunction",
            "Principal": principal,
        }
        if source_arn is not None:
            props["SourceArn"] = source_arn
        resource: dict[str, Any] = {"Type": "AWS::Lambda::Permission", "Properties": props}
        if depends:
            resource["DependsOn"] = depends
        self.add(lid, resource)

    # ----- events ---------------------------------------------------------------------------
    def _route(self, lid: str, route_key: str, target: Any, payload: str) -> None:
        depends = self._depends(target)
        self.add(
            lid,
            {
                "Type": "Firebox::Http::Route",
                "Properties": {
                    "RouteKey": route_key,
                    "FunctionName": target,
                    "PayloadFormatVersion": payload,
                },
                **({"DependsOn": depends} if depends else {}),
            },
        )

    def event_httpApi(self, key: str, target: Any, spec: Any, index: int) -> None:
        if isinstance(spec, str):
            route = spec
        elif isinstance(spec, dict):
            route = (
                "*"
                if spec.get("method") == "*" and spec.get("path") in (None, "*")
                else (f"{str(spec.get('method', '*')).upper()} {spec.get('path', '')}")
            )
            if spec.get("authorizer"):
                self.warnings.append(f"functions.{key}: httpApi authorizers are not applied")
        else:
            raise ConfigError(f"functions.{key}: httpApi: expected 'METHOD /path' or an object")
        if route != "*" and route.startswith("* "):
            route = "ANY " + route[2:]
        route_key = "$default" if route == "*" else route
        http_api = self.provider.get("httpApi") or {}
        if http_api.get("cors") and "cors" not in self._warned:
            self._warned.add("cors")
            self.warnings.append(
                "provider.httpApi.cors: firebox's HTTP routes answer without "
                "CORS headers; return them from the function"
            )
        payload = str(http_api.get("payload", "2.0"))
        lid = naming.http_api_route(route)
        self._route(lid, route_key, target, payload)
        self.permission(
            f"{naming.function_part(key)}LambdaPermissionHttpApi",
            target,
            "apigateway.amazonaws.com",
            depends=self._depends(target),
        )
        self.outputs.setdefault(
            "HttpApiUrl",
            {"Description": "URL of the HTTP API", "Value": {"Fn::GetAtt": [lid, "Url"]}},
        )

    def event_http(self, key: str, target: Any, spec: Any, index: int) -> None:
        if isinstance(spec, str):
            method, _, path = spec.partition(" ")
        elif isinstance(spec, dict):
            method, path = str(spec.get("method", "")), str(spec.get("path", ""))
        else:
            raise ConfigError(f"functions.{key}: http: expected 'METHOD path' or an object")
        if not method or not path:
            raise ConfigError(f"functions.{key}: http: a method and a path are required")
        if isinstance(spec, dict) and spec.get("cors") and "http-cors" not in self._warned:
            self._warned.add("http-cors")
            self.warnings.append("http events' cors: firebox's routes answer no OPTIONS "
                                 "preflight; return CORS headers from the function")  # fmt: skip
        method = method.upper()
        route_key = f"{method} /{path.strip('/')}"
        lid = naming.rest_method(path, method if method != "ANY" else "Any")
        self._route(lid, route_key, target, "1.0")
        self.permission(
            f"{naming.function_part(key)}LambdaPermissionApiGateway",
            target,
            "apigateway.amazonaws.com",
            depends=self._depends(target),
        )
        self.outputs.setdefault(
            "ServiceEndpoint",
            {"Description": "URL of the service endpoint", "Value": {"Fn::GetAtt": [lid, "Url"]}},
        )

    def event_sqs(self, key: str, target: Any, spec: Any, index: int) -> None:
        spec = {"arn": spec} if not isinstance(spec, dict) or "arn" not in spec else spec
        arn = spec["arn"]
        queue = _name_of(arn)
        props: dict[str, Any] = {
            "BatchSize": spec.get("batchSize", 10),
            "EventSourceArn": arn,
            "FunctionName": target,
            "Enabled": spec.get("enabled", True),
        }
        if spec.get("maximumBatchingWindow") is not None:
            props["MaximumBatchingWindowInSeconds"] = spec["maximumBatchingWindow"]
        if spec.get("functionResponseType"):
            props["FunctionResponseTypes"] = [spec["functionResponseType"]]
        if spec.get("filterPatterns"):
            props["FilterCriteria"] = {
                "Filters": [{"Pattern": _json(p)} for p in spec["filterPatterns"]]
            }
        if spec.get("maximumConcurrency") is not None:
            props["ScalingConfig"] = {"MaximumConcurrency": spec["maximumConcurrency"]}
        depends = self._depends(target)
        if self.uses_default_role:
            depends = [naming.ROLE, *depends]
        if arn not in self.queue_arns:
            self.queue_arns.append(arn)
        lid = f"{naming.function_part(key)}EventSourceMappingSQS{naming.alnum(queue)}"
        self.add(
            lid,
            {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": props,
                **({"DependsOn": depends} if depends else {}),
            },
        )

    def event_s3(self, key: str, target: Any, spec: Any, index: int) -> None:
        if not isinstance(spec, (str, dict)):
            raise ConfigError(f"functions.{key}: s3: expected a bucket name or an object")
        spec = {"bucket": spec} if isinstance(spec, str) else dict(spec)
        bucket = spec.get("bucket")
        if not isinstance(bucket, str):
            raise ConfigError(f"functions.{key}: s3: the bucket must be a name")
        rules_given = spec.get("rules") or []
        if not isinstance(rules_given, list) or not all(
                isinstance(r, dict) and len(r) == 1 for r in rules_given):  # fmt: skip
            raise ConfigError(f"functions.{key}: s3: rules must be a list like "
                              "[{prefix: in/}, {suffix: .jpg}]")  # fmt: skip
        if spec.get("existing"):
            seen = self._existing_bucket.setdefault(key, bucket)
            if seen != bucket:
                raise ConfigError(
                    "Only one S3 Bucket can be configured per function. In "
                    f'"{key}" you\'re attempting to configure "{seen}" and "{bucket}" at the '
                    "same time."
                )
        configuration: dict[str, Any] = {
            "Event": spec.get("event", "s3:ObjectCreated:*"),
            "Function": target,
        }
        rules = [
            {"Name": name, "Value": value}
            for rule in spec.get("rules") or []
            for name, value in rule.items()
        ]
        if rules:
            configuration["Filter"] = {"S3Key": {"Rules": rules}}
        permission = f"{naming.function_part(key)}LambdaPermission{naming.alnum(bucket)}S3"
        self.permission(
            permission, target, "s3.amazonaws.com", f"arn:aws:s3:::{bucket}", self._depends(target)
        )
        self.resources[permission]["Properties"]["SourceAccount"] = {"Ref": "AWS::AccountId"}
        if spec.get("existing"):
            lid = f"{naming.function_part(key)}CustomS31"
            type_name = "Firebox::S3::BucketNotifications"
        else:
            lid = f"S3Bucket{naming.alnum(bucket)}"
            type_name = "AWS::S3::Bucket"
        resource = self.resources.setdefault(
            lid,
            {
                "Type": type_name,
                "Properties": {
                    "BucketName": bucket,
                    "NotificationConfiguration": {"LambdaConfigurations": []},
                },
                "DependsOn": [],
            },
        )
        resource["Properties"]["NotificationConfiguration"]["LambdaConfigurations"].append(
            configuration
        )
        for dependency in (permission, *self._depends(target)):
            if dependency not in resource["DependsOn"]:
                resource["DependsOn"].append(dependency)

    def schedule(self, key: str, target: Any, spec: Any, expression: str, index: int) -> None:
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("method") == "scheduler":
            self.scheduled(key, target, spec, expression, index)
            return
        target_spec: dict[str, Any] = {"Arn": target, "Id": f"{key}Schedule"}
        if spec.get("input") is not None:
            value = spec["input"]
            target_spec["Input"] = value if isinstance(value, str) else _json(value)
        if spec.get("inputPath"):
            target_spec["InputPath"] = spec["inputPath"]
        if spec.get("inputTransformer"):
            transformer = spec["inputTransformer"]
            target_spec["InputTransformer"] = {
                "InputTemplate": transformer.get("inputTemplate"),
                "InputPathsMap": transformer.get("inputPathsMap"),
            }
        props: dict[str, Any] = {
            "ScheduleExpression": expression,
            "State": "ENABLED" if spec.get("enabled", True) else "DISABLED",
            "Targets": [target_spec],
        }
        if spec.get("name"):
            props["Name"] = spec["name"]
        if spec.get("description"):
            props["Description"] = spec["description"]
        lid = f"{naming.function_part(key)}EventsRuleSchedule{index}"
        depends = self._depends(target)
        self.add(
            lid,
            {
                "Type": "AWS::Events::Rule",
                "Properties": props,
                **({"DependsOn": depends} if depends else {}),
            },
        )
        self.permission(
            f"{naming.function_part(key)}LambdaPermissionEventsRuleSchedule{index}",
            target,
            "events.amazonaws.com",
            {"Fn::GetAtt": [lid, "Arn"]},
            depends,
        )

    def scheduled(
        self, key: str, target: Any, spec: Mapping[str, Any], expression: str, index: int
    ) -> None:
        """`method: scheduler`: an EventBridge Scheduler schedule (time zones included)."""
        target_spec: dict[str, Any] = {"Arn": target, "RoleArn": self.scheduler_role()}
        if spec.get("input") is not None:
            value = spec["input"]
            target_spec["Input"] = value if isinstance(value, str) else _json(value)
        props: dict[str, Any] = {
            "ScheduleExpression": expression,
            "State": "ENABLED" if spec.get("enabled", True) else "DISABLED",
            "Target": target_spec,
            "FlexibleTimeWindow": {"Mode": "OFF"},
        }
        for member, name in (
            ("name", "Name"),
            ("description", "Description"),
            ("timezone", "ScheduleExpressionTimezone"),
        ):
            if spec.get(member):
                props[name] = spec[member]
        depends = self._depends(target)
        self.add(
            f"{naming.function_part(key)}SchedulerSchedule{index}",
            {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": props,
                **({"DependsOn": depends} if depends else {}),
            },
        )
        name = (self.config.get("functions") or {})[key]["name"]
        arn = f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{name}"
        if arn not in self.scheduler:
            self.scheduler.append(arn)

    def scheduler_role(self) -> Any:
        role = (self.provider.get("iam") or {}).get("role") or self.provider.get("role")
        if isinstance(role, str):
            return role if role.startswith("arn:") else _arn(role)
        self.uses_default_role = True
        return _arn(naming.ROLE)

    def event_sns(self, key: str, target: Any, spec: Any, index: int) -> None:
        if not isinstance(spec, (str, dict)):
            raise ConfigError(f"functions.{key}: sns: expected a topic name, an ARN or an object")
        spec = {"topicName": spec} if isinstance(spec, str) else dict(spec)
        arn, name = spec.get("arn"), spec.get("topicName")
        if isinstance(name, str) and name.startswith("arn:"):
            arn, name = name, None
        if arn is None and not isinstance(name, str):
            raise ConfigError(f"functions.{key}: sns: a topicName or an arn is required")
        name = name if isinstance(name, str) else _name_of(arn)
        depends = self._depends(target)
        fn_part = naming.function_part(key)
        own = arn is None  # a topic this service makes (else the one the ARN names)
        inline = own and not spec.get("filterPolicy") and not spec.get("redrivePolicy")
        if arn is None:  # a topic of the service's own: made by the stack
            topic_lid = f"SNSTopic{naming.alnum(name)}"
            arn = {"Ref": topic_lid}
            topic = self.resources.setdefault(
                topic_lid, {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": name}}
            )
            if spec.get("displayName"):
                topic["Properties"]["DisplayName"] = spec["displayName"]
            if inline:
                topic["Properties"].setdefault("Subscription", []).append(
                    {"Endpoint": target, "Protocol": "lambda"}
                )
                if depends:
                    topic["DependsOn"] = sorted(set(topic.get("DependsOn", [])) | set(depends))
        if not inline:
            props: dict[str, Any] = {"TopicArn": arn, "Protocol": "lambda", "Endpoint": target}
            for member, prop in (
                ("filterPolicy", "FilterPolicy"),
                ("filterPolicyScope", "FilterPolicyScope"),
                ("redrivePolicy", "RedrivePolicy"),
            ):
                if spec.get(member):
                    props[prop] = spec[member]
            self.add(
                f"{fn_part}SnsSubscription{naming.alnum(name)}",
                {
                    "Type": "AWS::SNS::Subscription",
                    "Properties": props,
                    **({"DependsOn": depends} if depends else {}),
                },
            )
        source = (
            arn
            if not own
            else {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":sns:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":",
                        name,
                    ],
                ]
            }
        )
        self.permission(
            f"{fn_part}LambdaPermission{naming.alnum(name)}SNS",
            target,
            "sns.amazonaws.com",
            source,
            depends,
        )

    def event_eventBridge(self, key: str, target: Any, spec: Any, index: int) -> None:
        if not isinstance(spec, dict) or not (spec.get("pattern") or spec.get("schedule")):
            raise ConfigError(f"functions.{key}: eventBridge: a pattern or a schedule is required")
        service, stage = self.config["service"], self.provider["stage"]
        rule = spec.get("name") or f"{service}-{stage}-{key}-rule-{index}"
        props: dict[str, Any] = {
            "Name": rule,
            "State": "ENABLED" if spec.get("enabled", True) else "DISABLED",
        }
        if spec.get("pattern"):
            props["EventPattern"] = spec["pattern"]
        if spec.get("schedule"):
            props["ScheduleExpression"] = spec["schedule"]
        if spec.get("description"):
            props["Description"] = spec["description"]
        depends = self._depends(target)
        rule_depends = list(depends)
        bus = spec.get("eventBus")
        bus_name = None
        if isinstance(bus, str) and not bus.startswith("arn:") and bus != "default":
            bus_lid = f"{naming.function_part(bus)}EventBridgeEventBus"
            self.resources.setdefault(
                bus_lid, {"Type": "AWS::Events::EventBus", "Properties": {"Name": bus}}
            )
            props["EventBusName"] = bus_name = bus
            rule_depends.append(bus_lid)
        elif bus is not None and bus != "default":
            props["EventBusName"] = bus
            bus_name = bus.rsplit("/", 1)[-1] if isinstance(bus, str) else None
        target_spec: dict[str, Any] = {"Arn": target, "Id": f"{rule}-target"}
        for name, member in (("inputPath", "InputPath"),):
            if spec.get(name):
                target_spec[member] = spec[name]
        if spec.get("input") is not None:
            value = spec["input"]
            target_spec["Input"] = value if isinstance(value, str) else _json(value)
        if spec.get("inputTransformer"):
            transformer = spec["inputTransformer"]
            target_spec["InputTransformer"] = {
                "InputTemplate": transformer.get("inputTemplate"),
                "InputPathsMap": transformer.get("inputPathsMap"),
            }
        if spec.get("retryPolicy"):
            policy = spec["retryPolicy"]
            target_spec["RetryPolicy"] = {
                "MaximumEventAgeInSeconds": policy.get("maximumEventAge"),
                "MaximumRetryAttempts": policy.get("maximumRetryAttempts"),
            }
        if spec.get("deadLetterQueueArn"):
            target_spec["DeadLetterConfig"] = {"Arn": spec["deadLetterQueueArn"]}
        props["Targets"] = [target_spec]
        lid = f"{naming.alnum(rule)}EventBridgeRule"
        self.add(
            lid,
            {
                "Type": "AWS::Events::Rule",
                "Properties": props,
                **({"DependsOn": rule_depends} if rule_depends else {}),
            },
        )
        path = ["rule", bus_name, rule] if bus_name else ["rule", rule]
        source = {
            "Fn::Join": [
                ":",
                [
                    "arn",
                    {"Ref": "AWS::Partition"},
                    "events",
                    {"Ref": "AWS::Region"},
                    {"Ref": "AWS::AccountId"},
                    {"Fn::Join": ["/", path]},
                ],
            ]
        }
        self.permission(
            f"{naming.function_part(key)}EventBridgeLambdaPermission{index}",
            target,
            "events.amazonaws.com",
            source,
            depends,
        )


def _send_statement(arn: Any, where: str) -> dict[str, Any]:
    """The role's right to send to a destination or dead-letter target, by its service."""
    text = arn if isinstance(arn, str) else json.dumps(arn)
    action = (
        "sqs:SendMessage"
        if ":sqs:" in text
        else "sns:Publish"
        if ":sns:" in text
        else "events:PutEvents"
        if ":events:" in text
        else "lambda:InvokeFunction"
        if ":lambda:" in text
        else None
    )
    if action is None:
        raise ConfigError(f"{where}: {text} is not a queue, topic, event bus or function")
    return {"Effect": "Allow", "Action": action, "Resource": arn}


def _json(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it (the Framework's)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _rates(spec: Any) -> list[str]:
    rate = spec.get("rate") if isinstance(spec, dict) else spec
    rates = rate if isinstance(rate, list) else [rate]
    if not rates or not all(isinstance(r, str) and r for r in rates):
        raise ConfigError("schedule: expected rate(...) or cron(...) expressions")
    return [str(r) for r in rates]


def _name_of(arn: Any) -> str:
    """A queue's or topic's name from its ARN, or the logical id an intrinsic refers to."""
    if isinstance(arn, str):
        return arn.rsplit(":", 1)[-1]
    if isinstance(arn, dict):
        if "Fn::GetAtt" in arn:
            value = arn["Fn::GetAtt"]
            return str(value[0] if isinstance(value, list) else str(value).split(".")[0])
        if "Ref" in arn:
            return str(arn["Ref"])
        if "Fn::ImportValue" in arn:
            return str(arn["Fn::ImportValue"])
        if "Fn::Join" in arn:
            parts = arn["Fn::Join"][1]
            last = parts[-1] if parts else ""
            return last.rsplit(":", 1)[-1] if isinstance(last, str) else _name_of(last)
    raise ConfigError(f"cannot tell a name from {json.dumps(arn)}")


def _plugins(plugins: Any) -> list[str]:
    if isinstance(plugins, dict):
        plugins = plugins.get("modules") or []
    return [str(p) for p in plugins or []]


def _merge(base: Any, over: Any) -> Any:
    """lodash's merge: objects merged key by key, arrays index by index, the rest replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(over, list):
        merged = [_merge(b, o) for b, o in zip(base, over, strict=False)]
        return merged + copy.deepcopy(over[len(base) :]) + base[len(over) :]
    return copy.deepcopy(over)


def compile_service(config: Mapping[str, Any], artifacts: Mapping[str, str],
                    layer_artifacts: Mapping[str, str] | None = None) -> Compiled:  # fmt: skip
    """The template for a service resolved by config.load_service, its packages by function
    (and by layer, for the service's own layers)."""
    return _Compiler(config, artifacts, layer_artifacts or {}).compile()
