#!/usr/bin/env python3
"""Supervise one long-running process where systemd is not the running init (containers, CI).

This is the stand-in for the systemd unit the roles always render: the same argv, the same
EnvironmentFile, Restart=on-failure semantics, a pidfile and a log file. It runs on the managed node
with the node's own Python (3.8+, stdlib only) and is driven by the ``microdc_supervised`` module.

    microdc_supervise.py start SPEC        start the supervisor in the background unless it runs
    microdc_supervise.py stop SPEC         stop supervisor and child, remove the pidfile
    microdc_supervise.py status SPEC       exit 0 when running, 3 when not (LSB), JSON on stdout
    microdc_supervise.py run SPEC          the supervisor loop itself (foreground)
    microdc_supervise.py verify-unit NAME FILE   systemd-analyze verify FILE as NAME (where available)

SPEC is a JSON file: {"name", "argv": [...], "env_file", "workdir", "user", "group", "pidfile", "logfile",
"restart_sec", "stop_timeout"}. The supervisor runs as root; the child runs as "user" ("group", else the
user's primary group, and no supplementary groups), dropped before exec. The child never goes through a shell: argv is passed to exec as is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# systemd hands services this PATH and nothing of the caller's environment; so do we, so that a
# process behaves the same under both supervisors and no Ansible/SSH variables leak into it.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
STATUS_NOT_RUNNING = 3


def load_spec(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    missing = [k for k in ("name", "argv", "pidfile", "logfile") if k not in spec]
    if missing:
        raise SystemExit(f"{path}: spec lacks {', '.join(missing)}")
    if not isinstance(spec["argv"], list) or not spec["argv"] or not all(isinstance(a, str) for a in spec["argv"]):
        raise SystemExit(f"{path}: argv must be a non-empty list of strings")
    return spec


def parse_env_file(path: str) -> dict:
    """Parse the subset of systemd's EnvironmentFile= syntax the roles write: KEY="value" lines where
    backslash escapes one of \\ " ` $ (systemd's SHELL_NEED_ESCAPE), comments and blank lines."""
    env: dict = {}
    if not path or not os.path.exists(path):
        return env
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise SystemExit(f"{path}:{lineno}: expected KEY=VALUE")
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                out, it = [], iter(value[1:-1])
                for ch in it:
                    if ch == "\\":
                        nxt = next(it, "")
                        out.append(nxt if nxt in '\\"`$' else "\\" + nxt)
                    else:
                        out.append(ch)
                value = "".join(out)
            env[key.strip()] = value
    return env


def read_pidfile(path: str) -> tuple:
    """(supervisor pid, child pid) from the pidfile, zeros where absent or unreadable."""
    try:
        with open(path, encoding="ascii") as fh:
            parts = fh.read().split()
        return int(parts[0]), (int(parts[1]) if len(parts) > 1 else 0)
    except (OSError, ValueError, IndexError):
        return 0, 0


def write_pidfile(path: str, pid: int, child: int) -> None:
    # Atomic replace so a reader never sees a half-written file.
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pid-")
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(f"{pid} {child}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def is_our_supervisor(pid: int, spec_path: str) -> bool:
    """True when pid is alive and is this tool supervising this spec (a recycled pid is not)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return False
    want = os.path.abspath(spec_path).encode()
    return b"run" in argv and want in argv and any(a.endswith(b"microdc_supervise.py") for a in argv)


def status(spec_path: str) -> dict:
    spec = load_spec(spec_path)
    pid, child = read_pidfile(spec["pidfile"])
    running = is_our_supervisor(pid, spec_path)
    return {"name": spec["name"], "running": running, "pid": pid if running else 0,
            "child_pid": child if running else 0, "pidfile": spec["pidfile"]}


def cmd_start(spec_path: str, wait: float) -> int:
    spec_path = os.path.abspath(spec_path)
    state = status(spec_path)
    if state["running"]:
        print(json.dumps(dict(state, changed=False)))
        return 0
    spec = load_spec(spec_path)
    for d in (os.path.dirname(spec["pidfile"]), os.path.dirname(spec["logfile"])):
        os.makedirs(d, exist_ok=True)
    # A new session detaches the supervisor from the SSH session that started it; no inherited fds,
    # so the Ansible connection can close while it runs on.
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        [sys.executable, os.path.abspath(__file__), "run", spec_path],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True, cwd="/",
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pid, child = read_pidfile(spec["pidfile"])
        if pid == proc.pid and child:
            print(json.dumps(dict(status(spec_path), changed=True)))
            return 0
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = _tail(spec["logfile"])
    print(json.dumps({"name": spec["name"], "running": False, "changed": True,
                      "msg": f"supervisor did not come up; log tail: {tail}"}))
    return 1


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def cmd_stop(spec_path: str, timeout: float) -> int:
    spec_path = os.path.abspath(spec_path)
    spec = load_spec(spec_path)
    timeout = float(spec.get("stop_timeout", timeout))
    pid, child = read_pidfile(spec["pidfile"])
    changed = False
    if is_our_supervisor(pid, spec_path):
        changed = True
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    # The child runs in its own process group; make sure nothing of it survives its supervisor.
    if child > 0:
        try:
            os.killpg(child, signal.SIGKILL)
            changed = True
        except (ProcessLookupError, PermissionError):
            pass
    if os.path.exists(spec["pidfile"]):
        os.remove(spec["pidfile"])
        changed = True
    print(json.dumps({"name": spec["name"], "running": False, "changed": changed}))
    return 0


class Supervisor:
    """Restart=on-failure: restart after a non-zero exit or a signal, stop after a clean exit."""

    def __init__(self, spec_path: str) -> None:
        self.spec_path = spec_path
        self.spec = load_spec(spec_path)
        self.stopping = False
        self.child: subprocess.Popen | None = None

    def log(self, msg: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(self.spec["logfile"], "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} microdc-supervise[{os.getpid()}]: {msg}\n")

    def on_term(self, signum: int, _frame: object) -> None:
        self.stopping = True
        if self.child and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def spawn(self) -> subprocess.Popen:
        spec = self.spec
        env = dict(BASE_ENV)
        env.update(parse_env_file(spec.get("env_file", "")))
        kwargs: dict = {}
        user = spec.get("user") or "root"
        if user != "root":
            import pwd  # Unix only, like the rest of this tool

            import grp

            entry = pwd.getpwnam(user)
            gid = grp.getgrnam(spec["group"]).gr_gid if spec.get("group") else entry.pw_gid
            # Popen sets the groups, then the gid, then the uid in the child, before exec; root's
            # supplementary groups must not come along.
            kwargs.update(user=entry.pw_uid, group=gid, extra_groups=[])
            env.setdefault("HOME", entry.pw_dir)
        else:
            env.setdefault("HOME", "/root")
        logfh = open(spec["logfile"], "ab")  # noqa: SIM115 - handed to the child, closed after spawn
        try:
            return subprocess.Popen(  # noqa: S603 - argv list, never a shell
                spec["argv"], env=env, cwd=spec.get("workdir") or "/",
                stdin=subprocess.DEVNULL, stdout=logfh, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, **kwargs,
            )
        finally:
            logfh.close()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        restart_sec = float(self.spec.get("restart_sec", 2))
        stop_timeout = float(self.spec.get("stop_timeout", 15))
        starts = 0
        try:
            while not self.stopping:
                try:
                    self.child = self.spawn()
                except OSError as exc:
                    self.log(f"cannot start {self.spec['argv'][0]}: {exc}")
                    write_pidfile(self.spec["pidfile"], os.getpid(), 0)
                    self._sleep(restart_sec)
                    continue
                starts += 1
                write_pidfile(self.spec["pidfile"], os.getpid(), self.child.pid)
                self.log(f"started pid {self.child.pid} (start #{starts})")
                rc = self._wait_child(stop_timeout)
                if self.stopping:
                    self.log(f"stopped (child exit {rc})")
                    break
                if rc == 0:
                    self.log("child exited cleanly; not restarting (on-failure)")
                    break
                self.log(f"child exited with {rc}; restarting in {restart_sec:g}s")
                self._sleep(restart_sec)
        finally:
            pid, _ = read_pidfile(self.spec["pidfile"])
            if pid == os.getpid():
                os.remove(self.spec["pidfile"])
        return 0

    def _wait_child(self, stop_timeout: float) -> int:
        assert self.child is not None
        while True:
            try:
                rc = self.child.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self.stopping:
                    try:
                        rc = self.child.wait(timeout=stop_timeout)
                    except subprocess.TimeoutExpired:
                        os.killpg(self.child.pid, signal.SIGKILL)
                        rc = self.child.wait()
                    break
        # Reap anything the child left in its group (a server's workers) like systemd's KillMode.
        try:
            os.killpg(self.child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return rc

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)


def verify_unit(name: str, path: str) -> int:
    """systemd-analyze needs the file to carry the unit's name, and Ansible's validate hands us a temp
    file, so verify a copy named NAME.service. Where systemd-analyze is missing there is nothing to run."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        print("systemd-analyze not installed; unit not verified")
        return 0
    with tempfile.TemporaryDirectory(prefix="microdc-unit-") as tmp:
        target = os.path.join(tmp, f"{name}.service")
        shutil.copyfile(path, target)
        proc = subprocess.run(  # noqa: S603 - fixed argv
            [tool, "verify", target], capture_output=True, text=True, check=False,
        )
    out = (proc.stdout + proc.stderr).replace(tmp + "/", "")
    print(out.strip())
    return proc.returncode


def main(argv: list) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "verify-unit" and len(argv) == 4:
        return verify_unit(argv[2], argv[3])
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    spec_path = os.path.abspath(argv[2])
    if cmd == "status":
        state = status(spec_path)
        print(json.dumps(state))
        return 0 if state["running"] else STATUS_NOT_RUNNING
    if cmd == "start":
        return cmd_start(spec_path, wait=10.0)
    if cmd == "stop":
        return cmd_stop(spec_path, timeout=15.0)
    if cmd == "run":
        return Supervisor(spec_path).run()
    print(f"unknown command {cmd!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
