"""Real web apps through routes and function URLs: FastAPI + Mangum, Flask + apig-wsgi.

The apps are deployed as users deploy them: dependencies vendored into the zip, installed
with `pip install --target` by the bootstrap (tests download nothing). Every check goes
through an HTTP client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from support import FireboxServer, create_function, vendored

FASTAPI_APP = """
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from mangum import Mangum

app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int, q: str = ""):
    return {"id": item_id, "q": q}

@app.post("/echo")
async def echo(request: Request):
    return {"json": await request.json(), "type": request.headers["content-type"]}

@app.get("/binary")
def binary():
    return Response(content=bytes(range(256)), media_type="application/octet-stream")

@app.get("/cookie")
def cookie(request: Request):
    response = JSONResponse({"seen": request.cookies.get("a")})
    response.set_cookie("b", "2")
    return response

@app.get("/redirect")
def redirect():
    return RedirectResponse("/items/1", status_code=302)

handler = Mangum(app, lifespan="off")
"""

FLASK_APP = """
from apig_wsgi import make_lambda_handler
from flask import Flask, jsonify, make_response, redirect, request

app = Flask(__name__)

@app.get("/items/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id, q=request.args.get("q", ""))

@app.post("/echo")
def echo():
    return jsonify(json=request.get_json(), type=request.headers["content-type"])

@app.get("/binary")
def binary():
    response = make_response(bytes(range(256)))
    response.headers["content-type"] = "application/octet-stream"
    return response

@app.get("/cookie")
def cookie():
    response = jsonify(seen=request.cookies.get("a"))
    response.set_cookie("b", "2")
    return response

@app.get("/redirect")
def go():
    return redirect("/items/1", code=302)

handler = make_lambda_handler(app, binary_support=True)
"""


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FireboxServer]:
    server = FireboxServer(tmp_path_factory.mktemp("web") / "data", "--concurrency", "120")
    server.start()
    yield server
    server.stop()


def deploy(server: FireboxServer, files: dict[str, str | bytes]) -> tuple[str, str]:
    """Creates the function, a route for everything under /http, and a function URL."""
    lam = server.client()
    name = create_function(lam, files, Timeout=30, MemorySize=256)
    response = httpx.post(f"{server.url}/_firebox/routes",
                          json={"RouteKey": "ANY /{proxy+}", "FunctionName": name})  # fmt: skip
    assert response.status_code == 201, response.text
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    return f"{server.url}/http", f"{server.url}/lambda-url/{url_id}"


def check_app(base: str) -> None:
    with httpx.Client(base_url=base, timeout=60) as http:
        response = http.get("/items/5", params={"q": "x y"})
        assert response.status_code == 200 and response.json() == {"id": 5, "q": "x y"}
        response = http.post("/echo", json={"a": [1, 2]})
        assert response.json() == {"json": {"a": [1, 2]}, "type": "application/json"}
        response = http.get("/binary")
        assert response.content == bytes(range(256))
        assert response.headers["content-type"] == "application/octet-stream"
        response = http.get("/cookie", headers={"cookie": "a=1"})
        assert response.json() == {"seen": "1"}
        assert any(c.startswith("b=2") for c in response.headers.get_list("set-cookie"))
        response = http.get("/redirect")
        assert response.status_code == 302 and response.headers["location"].endswith("/items/1")
        assert http.get("/items/not-a-number").status_code in (404, 422)


def app_server(
    tmp: pytest.TempPathFactory, packages: str, source: str
) -> Iterator[tuple[str, str]]:
    """A server of its own (each app owns the whole /http route space), the app deployed."""
    files: dict[str, str | bytes] = dict(vendored(packages))
    server = FireboxServer(tmp.mktemp("app") / "data")
    server.start()
    try:
        yield deploy(server, {**files, "app.py": source})
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fastapi_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    yield from app_server(tmp_path_factory, "fastapi mangum", FASTAPI_APP)


@pytest.fixture(scope="module")
def flask_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    yield from app_server(tmp_path_factory, "flask apig-wsgi", FLASK_APP)


@pytest.mark.parametrize("through", ["route", "function URL"])
def test_fastapi_with_mangum(fastapi_app: tuple[str, str], through: str) -> None:
    check_app(fastapi_app[0] if through == "route" else fastapi_app[1])


@pytest.mark.parametrize("through", ["route", "function URL"])
def test_flask_with_apig_wsgi(flask_app: tuple[str, str], through: str) -> None:
    check_app(flask_app[0] if through == "route" else flask_app[1])


def test_function_url_by_host_name(web: FireboxServer) -> None:
    lam = web.client()
    name = create_function(lam, "def handler(event, context):\n    return event['rawPath']\n")
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    host = url.split("//", 1)[1].rstrip("/")
    assert host.endswith(".lambda-url.us-east-1.localhost:" + str(web.port))
    # *.localhost resolves to loopback; the Host header is what selects the function.
    response = httpx.get(f"{web.url}/a/b", headers={"host": host})
    assert response.status_code == 200 and response.json() == "/a/b"


def test_errors_timeouts_and_limits(web: FireboxServer) -> None:
    lam = web.client()
    failing = create_function(lam, "def handler(event, context):\n    raise ValueError('no')\n")
    slow = create_function(lam, "import time\ndef handler(e, c):\n    time.sleep(5)\n", Timeout=1)
    for name, status, message in ((failing, 502, "Internal Server Error"),
                                  (slow, 504, "Endpoint request timed out")):  # fmt: skip
        url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
        url_id = url.split("//", 1)[1].split(".", 1)[0]
        response = httpx.get(f"{web.url}/lambda-url/{url_id}/", timeout=30)
        assert (response.status_code, response.json()) == (status, {"message": message})
    big = httpx.post(f"{web.url}/lambda-url/{url_id}/", content=b"x" * (6 * 1024 * 1024 + 1))
    assert big.status_code == 413
    assert httpx.get(f"{web.url}/http/no/route/here").status_code == 404


def test_hundred_concurrent_requests_run_in_parallel(web: FireboxServer) -> None:
    lam = web.client()
    name = create_function(lam, "import time\ndef handler(e, c):\n    time.sleep(0.2)\n"
                                "    return {'statusCode': 200, 'body': 'ok'}\n")  # fmt: skip
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    target = f"{web.url}/lambda-url/{url.split('//', 1)[1].split('.', 1)[0]}/"
    statuses: list[int] = []
    failures: list[str] = []
    barrier = threading.Barrier(101)

    def one() -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            response = http.get(target)
            statuses.append(response.status_code)
            if response.status_code != 200:
                failures.append(response.text)

    threads = [threading.Thread(target=one) for _ in range(100)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert statuses == [200] * 100, failures[:3]
    assert elapsed < 100 * 0.2 / 2, elapsed  # serially it would take 20 s
