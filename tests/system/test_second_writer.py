"""A server serves what another process wrote into its data dir (a CLI or tool writing the
database, a second server): its read models follow the store's change feed."""

from __future__ import annotations

import asyncio
import io
import sys
import zipfile
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from firebox.control.catalog import Catalog
from firebox.control.events import EventBus
from firebox.control.functions import FunctionService
from firebox.control.releases import Releases
from firebox.domain.arns import ArnBuilder, FunctionRef
from firebox.domain.functions import FunctionConfig, NewFunction
from firebox.runtimes.registry import RuntimeRegistry
from firebox.storage import SqliteFunctionStore
from firebox.worker.codestore import CodeStore
from support import FireboxServer, invoke_json, wait_for


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", source)
    return buf.getvalue()


def test_a_function_written_by_another_process_is_served(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server()
    lam = server.client()
    data = server.data_dir.resolve()
    store = SqliteFunctionStore(data / "firebox.sqlite3")
    runtimes = RuntimeRegistry({"python3.11": sys.executable})
    catalog = Catalog(store, CodeStore(data / "code"), runtimes,
                      ArnBuilder("us-east-1", "000000000000"), EventBus())  # fmt: skip
    catalog.load()
    functions = FunctionService(catalog, Releases(catalog), lambda _: True)
    source = "def handler(event, context):\n    return 'written elsewhere'\n"
    config = FunctionConfig(runtime="python3.11", role="arn:aws:iam::000000000000:role/x",
                            handler="app.handler")  # fmt: skip

    async def write(step: str) -> None:
        if step == "create":
            await functions.create(NewFunction("elsewhere", config, _zip(source)))
        elif step == "configure":
            await functions.update_configuration(FunctionRef("elsewhere"),
                                                 FunctionConfig(memory_size=512))  # fmt: skip
        else:
            await functions.delete(FunctionRef("elsewhere"))

    def served() -> object:
        try:
            return invoke_json(lam, "elsewhere")[0]
        except ClientError:
            return None

    asyncio.run(write("create"))
    assert wait_for(served) == "written elsewhere"
    asyncio.run(write("configure"))
    wait_for(lambda: lam.get_function_configuration(FunctionName="elsewhere")["MemorySize"] == 512)
    asyncio.run(write("delete"))
    wait_for(lambda: served() is None)
    with pytest.raises(ClientError) as gone:
        lam.get_function(FunctionName="elsewhere")
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    store.close()
