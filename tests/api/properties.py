#!/usr/bin/env python3
"""API property testing: Schemathesis against a real server, as each role.

Starts `jiliang serve` on a random port with a temporary SQLite database
seeded with the demo data, logs in as every column of the authorization
matrix (cookie + X-CSRF-Token, as the app does), and runs Schemathesis on
/api/openapi.json once per role with these checks:

  not_a_server_error            no 5xx
  response_schema_conformance   every answer matches its documented schema
  not_denied_by_matrix          no 2xx for an operation the matrix denies the role
  error_is_document             every error answer is {code, message}

Bounded run (scripts/test): the fuzzing phase, JILIANG_API_EXAMPLES=5 (the
defaults); longer run by hand:
JILIANG_API_PHASES=coverage,fuzzing JILIANG_API_EXAMPLES=100 \
  tests/.venv/bin/python tests/api/properties.py
Prints one summary line per role and a total; exits non-zero on any failure.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
BIN = os.environ.get("JILIANG_BIN", str(ROOT / "target" / "debug" / "jiliang"))
EXAMPLES = int(os.environ.get("JILIANG_API_EXAMPLES", "5"))
SEED = os.environ.get("JILIANG_API_SEED", "20261204")
DEMO_PASSWORD = "Jiliang-demo-2026"
# The matrix's columns: anonymous, then demo accounts (server/src/demo.rs).
ROLES = ["anon", "admin", "expert", "tianshui.admin", "tech", "trainee"]
CHECKS = "not_a_server_error,response_schema_conformance,not_denied_by_matrix,error_is_document"
# Operations that end the run's own login: logging out, changing one's
# password, and issuing a reset link (which ends the person's sessions; the
# run learns its own id from answers and once reset itself). The
# integration tests cover them.
EXCLUDED_PATHS = "^/api/v1/(auth/(logout|password)|users/[^/]+/password-reset)$"
# The bounded run fuzzes; a run by hand adds the coverage phase (boundary
# and negative values of every stated limit), e.g.
# JILIANG_API_PHASES=coverage,fuzzing JILIANG_API_EXAMPLES=100.
PHASES = os.environ.get("JILIANG_API_PHASES", "fuzzing")


def start_server(work):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JILIANG_BUS")}
    env.setdefault("RUST_LOG", "warn")
    db = f"sqlite://{work / 'jiliang.db'}"
    subprocess.run([BIN, "seed-demo", "--database-url", db], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(work / "server.log", "wb")
    child = subprocess.Popen(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--database-url", db,
         "--static-dir", str(work / "no-front-end")],
        env=env, stdout=subprocess.PIPE, stderr=log)
    deadline = time.monotonic() + 30
    out = b""
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        out += line
        m = re.search(rb"http://[\d.]+:\d+", out)
        if m:
            return child, m.group(0).decode()
    child.kill()
    raise SystemExit(f"server did not start: {out!r}")


def login(base, username):
    """Headers the app sends when logged in as `username`, and its user id."""
    s = requests.Session()
    r = s.post(f"{base}/api/v1/auth/login",
               json={"login": username, "password": DEMO_PASSWORD}, timeout=30)
    r.raise_for_status()
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    me = r.json()
    return {"Cookie": cookie, "X-CSRF-Token": me["csrf_token"]}, me["user"]["id"]


def start_role(base, role, who, work):
    """Starts Schemathesis as `role`; `who` is its login (headers, own id)."""
    headers, own_id = who
    cmd = [str(pathlib.Path(sys.executable).parent / "schemathesis"), "run",
           f"{base}/api/openapi.json", "--url", base,
           "--checks", CHECKS,
           "--max-examples", str(EXAMPLES), "--seed", SEED,
           "--phases", PHASES,
           "--workers", "1", "--request-timeout", "20",
           "--generation-database", "none",
           "--suppress-health-check", "all",
           "--report", "ndjson", "--report-ndjson-path", str(work / f"{role}.ndjson"),
           "--no-color"]
    cmd += ["--exclude-path-regex", EXCLUDED_PATHS]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    env = dict(os.environ, JILIANG_ROLE=role, JILIANG_SELF_ID=own_id,
               SCHEMATHESIS_HOOKS="hooks", PYTHONPATH=str(HERE))
    out = open(work / f"{role}.out", "w")
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)


def count_calls(ndjson):
    calls = 0
    statuses = {}
    if not ndjson.exists():
        return 0, statuses
    for line in ndjson.read_text().splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        for code in re.findall(r'"status_code":\s*(\d{3})', json.dumps(ev)):
            calls += 1
            statuses[code[0] + "xx"] = statuses.get(code[0] + "xx", 0) + 1
    return calls, statuses


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="jiliang-api-"))
    child, base = start_server(work)
    failed = []
    total = 0
    try:
        # Every login first: the run fuzzes the login route from the same
        # address, whose throttle would otherwise refuse the later roles.
        logins = {role: (({}, "") if role == "anon" else login(base, role)) for role in ROLES}
        # The roles run side by side: each mostly waits on the server.
        started = time.monotonic()
        runs = {role: start_role(base, role, logins[role], work) for role in ROLES}
        for role, p in runs.items():
            code = p.wait()
            out = (work / f"{role}.out").read_text(errors="replace")
            calls, statuses = count_calls(work / f"{role}.ndjson")
            total += calls
            shown = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
            print(f"schemathesis as {role:<15} {calls:>6} calls ({shown}): "
                  f"{'ok' if code == 0 else 'FAILED'}", flush=True)
            if code != 0:
                failed.append(role)
                print(out[-20000:])
        print(f"schemathesis: all roles in {time.monotonic() - started:.1f} s")
        if child.poll() is not None:
            failed.append("server exited")
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    log = (work / "server.log").read_text(errors="replace")
    if "panicked" in log:
        failed.append("server panicked")
        print(log[-5000:])
    print(f"schemathesis: {total} calls as {len(ROLES)} roles, "
          f"{len(failed)} failing: {', '.join(failed) or 'none'}")
    if failed:
        print(f"reports kept in {work}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
