"""HTTP API routes: the CLI, matching order, payload formats 1.0 and 2.0, durability."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx

from support import FireboxServer, create_function
from test_cli import run

ECHO = (
    "import json\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'body': json.dumps(event)}\n"
)


def test_routes_cli_matching_formats_and_restart(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    lam = server.client()
    echo = create_function(lam, ECHO)
    other = create_function(lam, "def handler(e, c):\n    return 'default'\n")
    added = [run(server, "routes", "add", "GET /items/{id}", echo, "--payload", "1.0"),
             run(server, "routes", "add", "ANY /items/{proxy+}", echo),
             run(server, "routes", "add", "$default", other)]  # fmt: skip
    assert all(r.returncode == 0 for r in added), [r.stderr for r in added]
    bad = run(server, "routes", "add", "FETCH /x", echo)
    assert bad.returncode != 0 and "InvalidParameterValueException" in bad.stderr
    listed = run(server, "routes", "ls").stdout.splitlines()[1:]
    assert [line.split()[1] for line in listed] == ["GET", "ANY", "$default"]  # specific first

    # Format 1.0 on the most specific route.
    response = httpx.get(f"{server.url}/http/items/42?tag=a&tag=b",
                         headers={"x-multi": "1", "cookie": "s=1"})  # fmt: skip
    event = json.loads(response.text)
    assert event["version"] == "1.0" and event["resource"] == "/items/{id}"
    assert event["path"] == "/items/42" and event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"id": "42"}
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert event["queryStringParameters"] == {"tag": "b"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    # Format 2.0 on the greedy route; binary bodies arrive base64-encoded.
    blob = bytes(range(256))
    response = httpx.post(f"{server.url}/http/items/a/b", content=blob,
                          headers={"content-type": "application/octet-stream",
                                   "cookie": "s=1; t=2"})  # fmt: skip
    event = json.loads(response.text)
    assert event["version"] == "2.0" and event["routeKey"] == "ANY /items/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b"} and event["cookies"] == ["s=1", "t=2"]
    assert event["isBase64Encoded"] and base64.b64decode(event["body"]) == blob
    assert event["requestContext"]["http"]["method"] == "POST"
    # Anything else goes to $default; a plain return value becomes a JSON 200.
    response = httpx.get(f"{server.url}/http/somewhere/else")
    assert response.status_code == 200 and response.json() == "default"

    server.stop()  # routes are stored with the functions
    server.start()
    assert httpx.get(f"{server.url}/http/items/7").json()["pathParameters"] == {"id": "7"}
    route_id = run(server, "routes", "ls").stdout.splitlines()[-1].split()[0]
    assert run(server, "routes", "rm", route_id).returncode == 0
    assert httpx.get(f"{server.url}/http/somewhere/else").status_code == 404
    assert run(server, "routes", "rm", route_id).returncode != 0


def test_routes_go_with_their_function(lam: object, server: FireboxServer) -> None:
    """Deleting a function (or the alias a route targets) removes its routes: a function
    re-created under the same name does not inherit them."""
    name = create_function(lam, ECHO, Publish=True)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")  # type: ignore[attr-defined]
    path = f"/gone-{name}"
    assert run(server, "routes", "add", f"GET {path}", name).returncode == 0
    assert run(server, "routes", "add", f"GET {path}/live", name, "-q", "live").returncode == 0

    def routed() -> list[str]:
        return [line.split()[2] for line in run(server, "routes", "ls").stdout.splitlines()[1:]
                if name in line]  # fmt: skip

    assert sorted(routed()) == [path, f"{path}/live"]
    lam.delete_alias(FunctionName=name, Name="live")  # type: ignore[attr-defined]
    assert routed() == [path]
    lam.delete_function(FunctionName=name)  # type: ignore[attr-defined]
    assert routed() == []
    create_function(lam, ECHO, FunctionName=name)
    assert routed() == []
