"""Messages firebox's Python runtime adds to a function's log (it runs in-process here)."""

from __future__ import annotations


def test_a_missing_sdk_is_explained_in_the_log() -> None:
    """The error stays Lambda's; the log line says why boto3 is missing and what to do."""
    from firebox.runtimes.inside.python.firebox_runtime import _sdk_hint

    error = {"errorType": "Runtime.ImportModuleError",
             "errorMessage": "Unable to import module 'app': No module named 'boto3'"}  # fmt: skip
    old = _sdk_hint(error, (3, 9))
    assert "python3.9 functions get no bundled AWS SDK, as current boto3 needs Python 3.10+" in old
    assert "python3.9 -m pip install boto3 -t ." in old
    assert "could not be bundled on this host" in _sdk_hint(error, (3, 12))
    in_handler = {"errorType": "ModuleNotFoundError", "errorMessage": "No module named 'botocore'"}
    assert _sdk_hint(in_handler, (3, 8))
    assert _sdk_hint({"errorType": "ModuleNotFoundError",
                      "errorMessage": "No module named 'requests'"}, (3, 9)) == ""  # fmt: skip
