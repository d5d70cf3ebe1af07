#!/usr/bin/env python3
"""Build a wheel of the node agent (the ``microdc/agent`` package) on the controller, stdlib only.

The wheel holds ``microdc/__init__.py`` (empty) and ``microdc/agent/**`` with a ``microdc-agent``
console script, so nodes get the agent without the appliance's Django code. The build is
deterministic: its version carries a hash of the sources (``0.1.0+g<12 hex>``), entries are sorted and
dated 1980-01-01, so the same sources give the same file and pip on the node sees a change exactly when
the code changed. Prints one JSON line: {"path", "filename", "version", "built"}.

    build_agent_wheel.py --source DIR/microdc/agent --out DIR [--requires 'httpx==0.28.1' ...]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile

DIST = "microdc_agent"
EPOCH = (1980, 1, 1, 0, 0, 0)


def agent_files(source: str) -> list[tuple[str, bytes]]:
    """(archive name, bytes) of every source file, skipping caches and compiled files."""
    files = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, source).replace(os.sep, "/")
            with open(path, "rb") as fh:
                files.append((f"microdc/agent/{rel}", fh.read()))
    if not any(n == "microdc/agent/__init__.py" for n, _ in files):
        raise SystemExit(f"{source} is not the agent package (no __init__.py)")
    return files


def base_version(files: list[tuple[str, bytes]]) -> str:
    for name, data in files:
        if name == "microdc/agent/version.py":
            match = re.search(rb'AGENT_VERSION\s*=\s*["\']([0-9][0-9A-Za-z.]*)["\']', data)
            if match:
                return match.group(1).decode()
    return "0.0.0"


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build(source: str, out: str, requires: list[str]) -> dict:
    files = [("microdc/__init__.py", b"")] + agent_files(source)
    content_hash = hashlib.sha256()
    for name, data in files + [("requires", "\n".join(requires).encode())]:
        content_hash.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    version = f"{base_version(files)}+g{content_hash.hexdigest()[:12]}"
    info = f"{DIST}-{version}.dist-info"
    metadata = "\n".join(
        ["Metadata-Version: 2.1", "Name: microdc-agent", f"Version: {version}",
         "Summary: microdc node agent (telemetry collector and pusher)", "License: Apache-2.0"]
        + [f"Requires-Dist: {r}" for r in requires]
    ) + "\n"
    wheel = "Wheel-Version: 1.0\nGenerator: microdc build_agent_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entry_points = "[console_scripts]\nmicrodc-agent = microdc.agent.cli:main\n"
    files += [(f"{info}/METADATA", metadata.encode()), (f"{info}/WHEEL", wheel.encode()),
              (f"{info}/entry_points.txt", entry_points.encode())]
    record = "\n".join([record_line(n, d) for n, d in files] + [f"{info}/RECORD,,"]) + "\n"
    files.append((f"{info}/RECORD", record.encode()))

    filename = f"{DIST}-{version}-py3-none-any.whl"
    path = os.path.join(out, filename)
    built = False
    if not os.path.exists(path):
        os.makedirs(out, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
        os.close(fd)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in files:
                entry = zipfile.ZipInfo(name, date_time=EPOCH)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(entry, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        built = True
    return {"path": path, "filename": filename, "version": version, "built": built}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the microdc/agent package directory")
    parser.add_argument("--out", required=True, help="directory for the wheel")
    parser.add_argument("--requires", action="append", default=[], help="a Requires-Dist entry")
    args = parser.parse_args(argv)
    print(json.dumps(build(os.path.abspath(args.source), os.path.abspath(args.out), args.requires)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
