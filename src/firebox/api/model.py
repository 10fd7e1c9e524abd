"""The service models requests are checked against: AWS's own (botocore's) and firebox's."""

from __future__ import annotations

import functools
from typing import Any

from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel

# firebox's own operations (rollouts, HTTP routes), described in botocore's model format so
# the same checks serve them: an extension has no AWS model to borrow.
FIREBOX_MODEL: dict[str, Any] = {
    "version": "2.0",
    "metadata": {
        "apiVersion": "2024-01-01",
        "endpointPrefix": "firebox",
        "protocol": "rest-json",
        "serviceId": "firebox",
        "signatureVersion": "v4",
    },
    "operations": {
        "StartRollout": {
            "name": "StartRollout",
            "http": {"method": "POST", "requestUri": "/_firebox/rollouts"},
            "input": {"shape": "StartRolloutRequest"},
        },
        "ListRollouts": {
            "name": "ListRollouts",
            "http": {"method": "GET", "requestUri": "/_firebox/rollouts"},
        },
        "ListRoutes": {
            "name": "ListRoutes",
            "http": {"method": "GET", "requestUri": "/_firebox/routes"},
        },
        "GetRollout": {
            "name": "GetRollout",
            "http": {"method": "GET", "requestUri": "/_firebox/rollouts/{FunctionName}/{Alias}"},
            "input": {"shape": "RolloutRequest"},
        },
        "AbortRollout": {
            "name": "AbortRollout",
            "http": {"method": "DELETE", "requestUri": "/_firebox/rollouts/{FunctionName}/{Alias}"},
            "input": {"shape": "RolloutRequest"},
        },
        "AddRoute": {
            "name": "AddRoute",
            "http": {"method": "POST", "requestUri": "/_firebox/routes"},
            "input": {"shape": "AddRouteRequest"},
        },
        "RemoveRoute": {
            "name": "RemoveRoute",
            "http": {"method": "DELETE", "requestUri": "/_firebox/routes/{RouteId}"},
            "input": {"shape": "RemoveRouteRequest"},
        },
        "PutArtifact": {
            "name": "PutArtifact",
            "http": {"method": "PUT", "requestUri": "/_firebox/artifacts/{Sha256}"},
            "input": {"shape": "PutArtifactRequest"},
        },
        "FindMissingArtifacts": {
            "name": "FindMissingArtifacts",
            "http": {"method": "POST", "requestUri": "/_firebox/artifacts"},
            "input": {"shape": "FindMissingArtifactsRequest"},
        },
        "GetCost": {
            "name": "GetCost",
            "http": {"method": "GET", "requestUri": "/_firebox/cost"},
            "input": {"shape": "CostRequest"},
        },
        "ListStacks": {
            "name": "ListStacks",
            "http": {"method": "GET", "requestUri": "/_firebox/stacks"},
        },
        "GetStack": {
            "name": "GetStack",
            "http": {"method": "GET", "requestUri": "/_firebox/stacks/{StackName}"},
            "input": {"shape": "StackRequest"},
        },
        "PlanStack": {
            "name": "PlanStack",
            "http": {"method": "POST", "requestUri": "/_firebox/stacks/{StackName}/plan"},
            "input": {"shape": "TemplateRequest"},
        },
        "DeployStack": {
            "name": "DeployStack",
            "http": {"method": "PUT", "requestUri": "/_firebox/stacks/{StackName}"},
            "input": {"shape": "TemplateRequest"},
        },
        "DeleteStack": {
            "name": "DeleteStack",
            "http": {"method": "DELETE", "requestUri": "/_firebox/stacks/{StackName}"},
            "input": {"shape": "StackRequest"},
        },
    },
    "shapes": {
        "PutArtifactRequest": {
            "type": "structure",
            "required": ["Sha256", "Body"],
            "members": {
                "Sha256": {"shape": "Sha256", "location": "uri", "locationName": "Sha256"},
                "Body": {"shape": "Blob"},
            },
            "payload": "Body",
        },
        "FindMissingArtifactsRequest": {
            "type": "structure",
            "required": ["Sha256s"],
            "members": {"Sha256s": {"shape": "Sha256List"}},
        },
        "CostRequest": {
            "type": "structure",
            "required": ["StartTime"],
            "members": {
                "StartTime": {
                    "shape": "Epoch",
                    "location": "querystring",
                    "locationName": "StartTime",
                },
                "EndTime": {"shape": "Epoch", "location": "querystring", "locationName": "EndTime"},
                "By": {"shape": "CostGrouping", "location": "querystring", "locationName": "By"},
            },
        },
        "Epoch": {"type": "long", "min": 0},
        "CostGrouping": {"type": "string", "enum": ["function", "day"]},
        "StackRequest": {
            "type": "structure",
            "required": ["StackName"],
            "members": {
                "StackName": {"shape": "StackName", "location": "uri", "locationName": "StackName"},
            },
        },
        "TemplateRequest": {
            "type": "structure",
            "required": ["StackName", "Template"],
            "members": {
                "StackName": {"shape": "StackName", "location": "uri", "locationName": "StackName"},
                "Template": {"shape": "Document"},
            },
        },
        "Sha256": {"type": "string", "min": 64, "max": 64, "pattern": "[0-9a-f]{64}"},
        "Sha256List": {"type": "list", "member": {"shape": "Sha256"}, "max": 1000},
        "StackName": {"type": "string", "min": 1, "max": 128},
        "Blob": {"type": "blob"},
        "Document": {"type": "structure", "members": {}, "document": True},
        "StartRolloutRequest": {
            "type": "structure",
            "required": ["FunctionName", "Alias"],
            "members": {
                "FunctionName": {"shape": "FunctionName"},
                "Alias": {"shape": "AliasName"},
                "ToVersion": {"shape": "Version"},
                "Steps": {"shape": "Steps"},
                "IntervalSeconds": {"shape": "Seconds"},
                "MaxErrorRate": {"shape": "Rate"},
                "MinInvocations": {"shape": "Count"},
                "MinStepInvocations": {"shape": "Count"},
            },
        },
        "RolloutRequest": {
            "type": "structure",
            "required": ["FunctionName", "Alias"],
            "members": {
                "FunctionName": {
                    "shape": "FunctionName",
                    "location": "uri",
                    "locationName": "FunctionName",
                },
                "Alias": {"shape": "AliasName", "location": "uri", "locationName": "Alias"},
            },
        },
        "AddRouteRequest": {
            "type": "structure",
            "required": ["RouteKey", "FunctionName"],
            "members": {
                "RouteKey": {"shape": "RouteKey"},
                "FunctionName": {"shape": "FunctionName"},
                "Qualifier": {"shape": "Qualifier"},
                "PayloadFormatVersion": {"shape": "PayloadFormatVersion"},
            },
        },
        "RemoveRouteRequest": {
            "type": "structure",
            "required": ["RouteId"],
            "members": {
                "RouteId": {"shape": "RouteId", "location": "uri", "locationName": "RouteId"},
            },
        },
        "FunctionName": {
            "type": "string",
            "min": 1,
            "max": 140,
            "pattern": "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?"
            "(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
        },
        "AliasName": {
            "type": "string",
            "min": 1,
            "max": 128,
            "pattern": "(?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        },
        "Version": {"type": "string", "min": 0, "max": 1024},
        "Qualifier": {"type": "string", "min": 1, "max": 128, "pattern": "(|[a-zA-Z0-9$_-]+)"},
        # Their ranges are the rollout's own checks (control/rollouts.py), in its words.
        "Steps": {"type": "list", "member": {"shape": "Percent"}, "max": 100},
        "Percent": {"type": "integer"},
        "Seconds": {"type": "double"},
        "Rate": {"type": "double"},
        "Count": {"type": "integer"},
        "RouteKey": {"type": "string", "min": 1, "max": 1024},
        "RouteId": {"type": "string", "min": 1, "max": 64, "pattern": "[a-zA-Z0-9-_]+"},
        "PayloadFormatVersion": {"type": "string", "enum": ["1.0", "2.0"]},
    },
}


@functools.cache
def service_model(name: str) -> ServiceModel:
    """An AWS service's model as botocore ships it, or firebox's own ("firebox")."""
    if name == "firebox":
        return ServiceModel(FIREBOX_MODEL, "firebox")
    return ServiceModel(create_loader().load_service_model(name, "service-2"), name)


def operation_model(service: str, operation: str) -> OperationModel:
    """One operation of a service's model (KeyError-free: a typo fails at import)."""
    return service_model(service).operation_model(operation)
