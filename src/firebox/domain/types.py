"""Shared type aliases."""

from typing import Any

JSONDict = dict[str, Any]
Headers = dict[str, str]
FunctionName = str
RequestId = str
EnvironmentId = str
Sha256Hex = str
