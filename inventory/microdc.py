#!/usr/bin/env python3
"""Ansible dynamic inventory built from the microdc appliance's node registry (stdlib only).

    MICRODC_URL=https://appliance MICRODC_TOKEN=... ansible-inventory -i inventory --list
    MICRODC_INVENTORY_FILE=nodes.json ansible-inventory -i inventory --list   # no appliance needed

Reads GET $MICRODC_URL/api/v1/nodes/?page_size=500 (following ``next``) with
``Authorization: Token $MICRODC_TOKEN``, or, when MICRODC_INVENTORY_FILE is set, a JSON file holding the
same list of nodes (or a page ``{"results": [...]}``). Decommissioned nodes are left out. Groups:
``site_<slug>``, ``rack_<site>_<rack>``, ``gpu_nodes`` / ``npu_nodes`` (by accelerator kind), ``status_<status>``
and ``simulated``. Optional: MICRODC_CA_FILE (CA bundle for the appliance's TLS), MICRODC_INSECURE=1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PAGE_SIZE = 500
MAX_PAGES = 1000  # a registry that keeps answering "next" is a bug, not a data center
EXCLUDED_STATUSES = {"decommissioned"}


class InventoryError(Exception):
    """A problem the user can fix; printed without a traceback."""


def group_name(*parts: str) -> str:
    """Ansible group names: letters, digits and underscores only."""
    name = "_".join(re.sub(r"[^A-Za-z0-9_]", "_", str(p)).strip("_").lower() for p in parts if p != "")
    return re.sub(r"_+", "_", name)


def fetch_nodes(url: str, token: str, ca_file: str | None, insecure: bool, timeout: float) -> list[dict[str, Any]]:
    if not url.lower().startswith(("http://", "https://")):
        raise InventoryError(f"MICRODC_URL must be an http(s) URL, got {url!r}")
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    next_url: str | None = urllib.parse.urljoin(url.rstrip("/") + "/", f"api/v1/nodes/?page_size={PAGE_SIZE}")
    nodes: list[dict[str, Any]] = []
    pages = 0
    while next_url:
        pages += 1
        if pages > MAX_PAGES:
            raise InventoryError(f"gave up after {MAX_PAGES} pages from {url}")
        request = urllib.request.Request(  # noqa: S310 - scheme checked above
            next_url, headers={"Authorization": f"Token {token}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
                page = json.load(response)
        except urllib.error.HTTPError as exc:
            hint = " (check MICRODC_TOKEN)" if exc.code in (401, 403) else ""
            raise InventoryError(f"GET {next_url} answered HTTP {exc.code}{hint}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InventoryError(f"cannot reach the appliance at {next_url}: {reason}") from exc
        except ValueError as exc:
            raise InventoryError(f"GET {next_url} did not return JSON: {exc}") from exc
        if isinstance(page, list):  # an unpaginated API answers with the list itself
            nodes.extend(page)
            break
        nodes.extend(page.get("results") or [])
        following = page.get("next")
        next_url = urllib.parse.urljoin(next_url, following) if following else None
    return nodes


def load_file(path: str) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise InventoryError(f"cannot read MICRODC_INVENTORY_FILE {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InventoryError(f"MICRODC_INVENTORY_FILE {path} is not JSON: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("results", [])
    if not isinstance(data, list):
        raise InventoryError(f"MICRODC_INVENTORY_FILE {path} must hold a list of nodes")
    return data


def host_vars(node: dict[str, Any]) -> dict[str, Any]:
    user = node.get("ssh_user") or "root"
    accelerators = [
        {k: a.get(k) for k in ("index", "kind", "vendor", "model", "uuid")}
        for a in node.get("accelerators") or []
    ]
    return {
        "ansible_host": node.get("management_address") or node["hostname"],
        "ansible_port": int(node.get("ssh_port") or 22),
        "ansible_user": user,
        "microdc_become": user != "root",
        "microdc_status": node.get("status"),
        "microdc_site": node.get("site_slug"),
        "microdc_rack": node.get("rack_name"),
        "microdc_simulated": bool(node.get("simulated")),
        "microdc_accelerators": accelerators,
    }


def build(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    inventory: dict[str, Any] = {
        "_meta": {"hostvars": {}},
        "all": {"children": ["ungrouped"]},
        "ungrouped": {"hosts": []},
    }
    groups: dict[str, list[str]] = {}
    for node in nodes:
        name = node.get("hostname")
        if not name or node.get("status") in EXCLUDED_STATUSES:
            continue
        inventory["_meta"]["hostvars"][name] = host_vars(node)
        member_of = []
        if node.get("site_slug"):
            member_of.append(group_name("site", node["site_slug"]))
            if node.get("rack_name"):
                member_of.append(group_name("rack", node["site_slug"], node["rack_name"]))
        kinds = {str(a.get("kind")) for a in node.get("accelerators") or []}
        member_of += [f"{kind}_nodes" for kind in sorted(kinds & {"gpu", "npu"})]
        if node.get("status"):
            member_of.append(group_name("status", node["status"]))
        if node.get("simulated"):
            member_of.append("simulated")
        for group in member_of:
            groups.setdefault(group, []).append(name)
        if not member_of:
            inventory["ungrouped"]["hosts"].append(name)
    for group, hosts in sorted(groups.items()):
        inventory[group] = {"hosts": sorted(hosts)}
        inventory["all"]["children"].append(group)
    return inventory


def load_nodes(env: dict[str, str]) -> list[dict[str, Any]]:
    if env.get("MICRODC_INVENTORY_FILE"):
        return load_file(env["MICRODC_INVENTORY_FILE"])
    url, token = env.get("MICRODC_URL"), env.get("MICRODC_TOKEN")
    missing = [name for name, value in (("MICRODC_URL", url), ("MICRODC_TOKEN", token)) if not value]
    if missing:
        raise InventoryError(
            f"{' and '.join(missing)} not set: export MICRODC_URL (the appliance, e.g. https://microdc.local) "
            "and MICRODC_TOKEN (an API token of an admin or operator), or MICRODC_INVENTORY_FILE (a JSON "
            "list of nodes) to read nodes from a file")
    return fetch_nodes(url, token, env.get("MICRODC_CA_FILE") or None,
                       env.get("MICRODC_INSECURE", "").lower() in ("1", "true", "yes"),
                       float(env.get("MICRODC_TIMEOUT", "30")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="microdc dynamic inventory")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--list", action="store_true", help="all groups and hosts")
    mode.add_argument("--host", help="variables of one host")
    args = parser.parse_args(argv)
    try:
        inventory = build(load_nodes(dict(os.environ)))
    except InventoryError as exc:
        print(f"microdc inventory: {exc}", file=sys.stderr)
        return 1
    if args.list:
        json.dump(inventory, sys.stdout, indent=2, sort_keys=True)
    else:
        json.dump(inventory["_meta"]["hostvars"].get(args.host, {}), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
