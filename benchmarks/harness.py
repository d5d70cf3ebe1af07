"""What the database benchmarks share: run a benchmark's inner part in a fresh process against a fresh
database (a temporary SQLite file, or a throwaway PostgreSQL database), and read back the JSON it prints."""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
        return True
    except Exception:
        return False


def backends(choice: str) -> list[str]:
    chosen = ["sqlite", "postgresql"] if choice == "both" else [choice]
    if "postgresql" in chosen and not postgres_reachable():
        print("PostgreSQL at 127.0.0.1:5432 is not reachable; skipping it.")
        chosen.remove("postgresql")
    return chosen


def backend_command(doc: str, inner) -> list[str] | None:
    """The command line of a benchmark run per database: `--backend sqlite|postgresql|both`, and the hidden
    `--inner` its child process gets (run_inner), which runs `inner()` and returns None. Otherwise returns the
    backends to run."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        inner()
        return None
    return backends(args.backend)


def print_rerun(script: str) -> None:
    print(f"rerun: .venv/bin/python benchmarks/{Path(script).name} [--backend sqlite|postgresql|both]")


def run_inner(script: str, backend: str, database: str) -> dict:
    """Run `script --inner` with a migrated-from-scratch database of `backend`; return its last JSON line."""
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, MICRODC_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="microdc.settings",
                   MICRODC_LOG_LEVEL="WARNING")
        env.pop("DATABASE_URL", None)
        if backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {database}")
                conn.execute(f"CREATE DATABASE {database}")
            env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
        out = subprocess.run([sys.executable, script, "--inner"], env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{backend} run failed:\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
