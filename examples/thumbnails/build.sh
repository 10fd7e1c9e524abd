#!/usr/bin/env bash
# Packages the function with its dependency (Pillow) into function.zip, as for AWS Lambda:
# Pillow for the interpreter that runs python3.11 functions (manylinux wheels).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf build function.zip
python3.11 -m pip install --quiet --target build pillow
cp handler.py build/
(cd build && python3.11 -m zipfile -c ../function.zip .)
echo "function.zip: $(du -h function.zip | cut -f1)"
