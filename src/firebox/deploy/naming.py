"""Logical ids as the Serverless Framework names its resources, so that `resources` written
for the Framework (`!GetAtt HelloLambdaFunction.Arn`) find them."""

from __future__ import annotations

import re


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def alnum(name: str) -> str:
    """normalizeNameToAlphaNumericOnly."""
    return upper_first(re.sub(r"[^0-9A-Za-z]", "", name))


def function_part(name: str) -> str:
    """getNormalizedFunctionName: `hello-world` → `HelloDashworld`."""
    return upper_first(name.replace("-", "Dash").replace("_", "Underscore"))


def path_part(raw: str) -> str:
    """normalizePathPart: lodash's capitalize, then parameters and punctuation."""
    text = raw[:1].upper() + raw[1:].lower()
    text = text.replace("-", "Dash")
    text = re.sub(r"\{(.*)\}", r"\1Var", text)
    return upper_first(re.sub(r"[^0-9A-Za-z]", "", text))


def path(route: str) -> str:
    return "".join(path_part(p) for p in route.split("/"))


def function(name: str) -> str:
    return f"{function_part(name)}LambdaFunction"


def version(name: str, digest: str) -> str:
    return f"{function_part(name)}LambdaVersion{re.sub(r'[^0-9a-zA-Z]', '', digest)}"


def http_api_route(route_key: str) -> str:
    return "HttpApiRouteDefault" if route_key == "*" else f"HttpApiRoute{path(route_key)}"


def rest_method(route: str, method: str) -> str:
    """getMethodLogicalId for a path's resource id and a method."""
    resource = path(route.strip("/"))
    return f"ApiGatewayMethod{resource}{upper_first(method.lower())}"


ROLE = "IamRoleLambdaExecution"
