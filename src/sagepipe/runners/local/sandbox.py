"""A job's private view of the file system: its job directory shown at /opt/ml, and the
`algo-N` host names in /etc/hosts, in a mount namespace of its own (docs/behaviour.md §11.1).

SDK-generated entrypoints and user scripts hard-code /opt/ml/..., so the path itself must be
the job's. bubblewrap (`bwrap`) does it where installed; util-linux `unshare` with a user and
mount namespace otherwise. /opt keeps everything else it had: a fresh tmpfs on /opt gets the
host's entries bound back, so no /opt/ml is ever created on the host. Each job also gets its
own PID namespace, so stopping it ends every process it started."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

TOOLS = ("bwrap", "unshare")

# For `unshare`: runs inside the new namespaces, as the namespace's root.
# $1 job's /opt/ml directory, $2 hosts file, $3 an empty directory to park the host's /opt
# on, $4 working directory; the command follows.
_UNSHARE_SCRIPT = r"""
set -e
optml=$1 hosts=$2 park=$3 cwd=$4
shift 4
mount --rbind /opt "$park"
mount -t tmpfs sagepipe-opt /opt
for entry in "$park"/* "$park"/.[!.]*; do
  [ -e "$entry" ] || [ -L "$entry" ] || continue
  name=${entry##*/}
  [ "$name" = ml ] && continue
  if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "/opt/$name"
  elif [ -d "$entry" ]; then mkdir "/opt/$name"; mount --rbind "$entry" "/opt/$name"
  else : > "/opt/$name"; mount --bind "$entry" "/opt/$name"; fi
done
mkdir /opt/ml
mount --bind "$optml" /opt/ml
mount --bind "$hosts" /etc/hosts
cd "$cwd"
# Not `exec`: PID 1 of a PID namespace ignores every signal it has no handler for, so a job
# run as PID 1 would not hear the SIGTERM of a stop. This shell stays PID 1, with a handler,
# and the job is its child (in the process group the supervisor signals).
set +e
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || exit "$status"
done
"""


class SandboxUnavailable(Exception):
    """No way to give a job its own /opt/ml here; the message says what to do."""


@dataclass(frozen=True)
class Sandbox:
    tool: str  # "bwrap" or "unshare"

    def wrap(
        self, command: list[str], opt_ml: Path, hosts: Path, park: Path, cwd: str
    ) -> list[str]:
        """`command` run with `opt_ml` at /opt/ml and `hosts` at /etc/hosts."""
        if self.tool == "bwrap":
            binds: list[str] = []
            for name in sorted(os.listdir("/opt")) if os.path.isdir("/opt") else []:
                if name == "ml":
                    continue
                path = os.path.join("/opt", name)
                if os.path.islink(path):
                    binds += ["--symlink", os.readlink(path), path]
                else:
                    binds += ["--dev-bind", path, path]
            return [
                "bwrap", "--dev-bind", "/", "/", "--tmpfs", "/opt", *binds,
                "--bind", str(opt_ml), "/opt/ml", "--ro-bind", str(hosts), "/etc/hosts",
                "--unshare-pid", "--proc", "/proc", "--die-with-parent", "--chdir", cwd,
                "--", *command,
            ]  # fmt: skip
        return [
            "unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
            "--kill-child", "--mount-proc", "sh", "-c", _UNSHARE_SCRIPT, "sagepipe-sandbox",
            str(opt_ml), str(hosts), str(park), cwd, *command,
        ]  # fmt: skip


def _works(sandbox: Sandbox, scratch: Path) -> str | None:
    """None if the sandbox can show a directory at /opt/ml here; else what went wrong."""
    opt_ml, park = scratch / "opt-ml", scratch / "park"
    opt_ml.mkdir(parents=True, exist_ok=True)
    park.mkdir(exist_ok=True)
    (opt_ml / "probe").write_text("sagepipe")
    hosts = scratch / "hosts"
    hosts.write_text("127.0.0.1 localhost algo-1\n")
    command = sandbox.wrap(["cat", "/opt/ml/probe"], opt_ml, hosts, park, "/")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0 and done.stdout == "sagepipe":
        return None
    return (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"


def detect(preference: str, scratch: Path) -> Sandbox:
    """The sandbox to use: `preference` is auto, bwrap or unshare. Probed by running one."""
    tools = TOOLS if preference == "auto" else (preference,)
    problems = []
    for tool in tools:
        if tool not in TOOLS:
            raise SandboxUnavailable(f"Unknown sandbox '{tool}': use auto, bwrap or unshare.")
        if shutil.which(tool) is None:
            problems.append(f"{tool}: not installed")
            continue
        problem = _works(Sandbox(tool), scratch / tool)
        if problem is None:
            shutil.rmtree(scratch, ignore_errors=True)
            return Sandbox(tool)
        problems.append(f"{tool}: {problem}")
    shutil.rmtree(scratch, ignore_errors=True)
    raise SandboxUnavailable(
        "The local runner cannot give jobs their own /opt/ml on this machine ("
        + "; ".join(problems)
        + "). Install bubblewrap (apt-get install bubblewrap), or enable unprivileged user "
        "namespaces (sysctl kernel.unprivileged_userns_clone=1), or run with --runner simulate."
    )
