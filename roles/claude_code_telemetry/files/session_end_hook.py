# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Claude Code SessionEnd hook: tell the n8n hub that a session ended.

Claude Code runs this with the session's JSON on standard input
(session_id, cwd, reason, ...). It posts the session id, cwd, git branch,
end time and the Odoo task to the configured URL with a bearer token, then
exits 0 whatever happened: a monitoring endpoint that is down must never
block or fail the user's session, so every error is one line on stderr and
the request has a short timeout.

Configuration is a JSON file (written by the claude_code_telemetry role,
mode 0600 because it holds the token):
  {"url": "https://vps/webhook/telemetry/session-end", "token": "...",
   "timeout": 5, "task_env": "CLAUDE_ODOO_TASK"}
The task is the value of the environment variable named by task_env when it
is set, otherwise the git branch.

Standard library only: it runs on any workstation with Python 3.8+.
"""

import datetime
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

GIT_TIMEOUT = 2.0


def git_branch(cwd):
    """The checked-out branch of cwd, or None (not a repository, no git, detached).

    symbolic-ref, unlike rev-parse HEAD, also names the branch of a
    repository without commits yet.
    """
    if not cwd or not os.path.isdir(cwd):
        return None
    try:
        out = subprocess.run(["git", "-C", cwd, "symbolic-ref", "--quiet", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    branch = out.stdout.strip()
    return branch if out.returncode == 0 and branch else None


def payload(event, config, environ):
    cwd = event.get("cwd") or os.getcwd()
    branch = git_branch(cwd)
    task = environ.get(config.get("task_env") or "CLAUDE_ODOO_TASK") or branch
    return {
        "session_id": event.get("session_id"),
        "cwd": cwd,
        "git_branch": branch,
        "task": task,
        "reason": event.get("reason"),
        "ended_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
    }


def post(config, body):
    request = urllib.request.Request(
        config["url"], data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + config.get("token", "")})
    with urllib.request.urlopen(request, timeout=float(config.get("timeout", 5))) as response:
        return response.status, response.read(65536).decode("utf-8", "replace")


def main(argv):
    if len(argv) != 2:
        print("usage: session_end_hook.py CONFIG.json (session JSON on stdin)", file=sys.stderr)
        return 0
    try:
        with open(argv[1], encoding="utf-8") as handle:
            config = json.load(handle)
        event = json.loads(sys.stdin.read() or "{}")
        if not event.get("session_id"):
            print("vpsmon session-end hook: no session_id on stdin, nothing sent", file=sys.stderr)
            return 0
        status, text = post(config, payload(event, config, os.environ))
        # Claude Code shows a SessionEnd hook's output only in debug mode: the
        # answer says what n8n wrote to the Odoo task.
        print(f"vpsmon session-end hook: {status} {text[:4000]}")
    except urllib.error.HTTPError as exc:
        # n8n's refusal says why (no metrics, unknown task, bad request).
        detail = exc.read(500).decode("utf-8", "replace")
        print(f"vpsmon session-end hook: not delivered (HTTP {exc.code}: {detail})", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - never fail the session; the token is never printed
        print(f"vpsmon session-end hook: not delivered ({type(exc).__name__}: {exc})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
