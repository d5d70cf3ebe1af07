"""``microdc-agent`` command line. Every option has an environment fallback (MICRODC_URL, ...) so the
agent can run from a systemd unit's EnvironmentFile; the command line wins over the environment."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from microdc.agent.collectors import COLLECTOR_NAMES
from microdc.agent.config import AgentConfig, default_spool_path
from microdc.agent.version import AGENT_VERSION

log = logging.getLogger("microdc.agent")

EXIT_USAGE = 2


def _env(name: str, default: Any = None) -> Any:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_flag(name: str) -> bool:
    return str(_env(name, "")).strip().lower() in ("1", "true", "yes", "on")


def _collector_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in COLLECTOR_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown collector(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(COLLECTOR_NAMES)}"
        )
    return names


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="microdc-agent",
        description="microdc node agent: collects GPU (NVML), hwmon/RAPL or simulated telemetry and "
                    "pushes it to the microdc appliance, spooling to local SQLite while the appliance is "
                    "unreachable.",
    )
    p.add_argument("--version", action="version", version=f"microdc-agent {AGENT_VERSION}")
    p.add_argument("--once", action="store_true", help="collect once, print it and exit (no network)")
    p.add_argument("--json", action="store_true", help="with --once: print JSON")
    p.add_argument("--nvml-raw", action="store_true",
                   help="with --once --json: add the raw NVML return values as 'nvml_raw' "
                        "(a capture for the test fixture)")
    p.add_argument("--url", default=_env("MICRODC_URL"), help="appliance base URL [MICRODC_URL]")
    p.add_argument("--token-file", default=_env("MICRODC_TOKEN_FILE"),
                   help="file holding the node token [MICRODC_TOKEN_FILE]; else MICRODC_NODE_TOKEN")
    p.add_argument("--node", default=_env("MICRODC_NODE", socket.gethostname()),
                   help="node name as registered on the appliance [MICRODC_NODE, default: hostname]")
    # string defaults go through `type` too, so a bad environment value is reported like a bad option
    p.add_argument("--interval", type=_positive_float, default=_env("MICRODC_INTERVAL", "10"),
                   help="seconds between collections [MICRODC_INTERVAL, default 10]")
    p.add_argument("--batch-samples", type=_positive_int,
                   default=_env("MICRODC_BATCH_SAMPLES", "1"),
                   help="samples per pushed batch [MICRODC_BATCH_SAMPLES, default 1]")
    p.add_argument("--spool", default=_env("MICRODC_SPOOL", default_spool_path()),
                   help="SQLite spool file [MICRODC_SPOOL, default %(default)s]")
    p.add_argument("--spool-max-batches", type=_positive_int,
                   default=_env("MICRODC_SPOOL_MAX_BATCHES", "10000"),
                   help="oldest batches are dropped beyond this [MICRODC_SPOOL_MAX_BATCHES, default 10000]")
    p.add_argument("--spool-max-bytes", type=_positive_int,
                   default=_env("MICRODC_SPOOL_MAX_BYTES", str(256 * 1024 * 1024)),
                   help="oldest batches are dropped beyond this size [MICRODC_SPOOL_MAX_BYTES, 256 MiB]")
    p.add_argument("--collectors", type=_collector_list,
                   default=_env("MICRODC_COLLECTORS", "nvml,sysfs"),
                   help=f"comma-separated, from {','.join(COLLECTOR_NAMES)} "
                        "[MICRODC_COLLECTORS, default nvml,sysfs]")
    p.add_argument("--sim-gpus", type=_int, default=_env("MICRODC_SIM_GPUS", "4"),
                   help="simulated GPUs [MICRODC_SIM_GPUS, default 4]")
    p.add_argument("--sim-seed", type=_int, default=_env("MICRODC_SIM_SEED", "0"),
                   help="simulator seed [MICRODC_SIM_SEED, default 0]")
    p.add_argument("--sysfs-root", default=_env("MICRODC_SYSFS_ROOT", "/sys"),
                   help="sysfs mount point [MICRODC_SYSFS_ROOT, default /sys]")
    p.add_argument("--proc-root", default=_env("MICRODC_PROC_ROOT", "/proc"),
                   help="procfs mount point, to map GPU processes to model servers "
                        "[MICRODC_PROC_ROOT, default /proc]")
    p.add_argument("--run-dir", default=_env("MICRODC_RUN_DIR", "/run/microdc"),
                   help="directory of supervised model servers' pidfiles (<service>.pid) "
                        "[MICRODC_RUN_DIR, default /run/microdc]")
    p.add_argument("--ca-file", default=_env("MICRODC_CA_FILE"),
                   help="CA bundle to verify the appliance's TLS certificate [MICRODC_CA_FILE]")
    p.add_argument("--insecure", action="store_true", default=_env_flag("MICRODC_INSECURE"),
                   help="do not verify TLS certificates [MICRODC_INSECURE]")
    p.add_argument("--log-level", default=_env("MICRODC_LOG_LEVEL", "INFO"),
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper,
                   help="[MICRODC_LOG_LEVEL, default INFO]")
    return p


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO; keep the agent's own log readable
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _print_human(result: dict[str, Any]) -> None:
    print(f"node {result['node']}  {result['ts']}")
    for name, status in result["collectors"].items():
        print(f"  collector {name}: {status}")
    for d in result["devices"]:
        sim = " (simulated)" if d.get("simulated") else ""
        print(f"  {d['kind']} {d['index']} {d.get('name', '?')} {d['uuid']}{sim}")
        for key, value in d["metrics"].items():
            print(f"      {key} = {value}")
        if "throttle_reasons" in d:
            print(f"      throttle_reasons = {','.join(d['throttle_reasons']) or '-'}")
    for s in result["sensors"]:
        metrics = ", ".join(f"{k}={v:.6g}" for k, v in s["metrics"].items())
        print(f"  {s['source']} {s['chip']} {s['name']}: {metrics}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    try:
        config = AgentConfig(
            url=args.url, token=_env("MICRODC_NODE_TOKEN") if not args.token_file else None,
            token_file=args.token_file, node=args.node, interval=args.interval,
            batch_samples=args.batch_samples, spool_path=args.spool, spool_max_batches=args.spool_max_batches,
            spool_max_bytes=args.spool_max_bytes, collectors=args.collectors, sim_gpus=args.sim_gpus,
            sim_seed=args.sim_seed, sysfs_root=args.sysfs_root, proc_root=args.proc_root,
            run_dir=args.run_dir, ca_file=args.ca_file, insecure=args.insecure,
            nvml_raw=args.nvml_raw,
        )
    except ValueError as exc:
        parser.error(str(exc))

    if args.once:
        from microdc.agent.agent import collect_once

        result = collect_once(config)
        if args.json:
            json.dump(result, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _print_human(result)
        return 0

    from microdc.agent.sender import tls_context

    try:
        config.telemetry_url()
        config.read_token()  # fail at start, not at the first push
        tls_context(config)
    except ValueError as exc:
        print(f"microdc-agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if config.insecure:
        log.warning("TLS certificate verification is off (--insecure)")

    from microdc.agent.agent import Agent

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("received %s: flushing the spool and stopping", signal.Signals(signum).name)
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process at once

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    Agent(config).run_forever(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
