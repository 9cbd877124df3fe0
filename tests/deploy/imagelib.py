"""Run a built image the way a container engine would, on a host that cannot run containers.

CI machines allow no cgroups, so ``podman run`` fails. What a container is made of is still
there: ``podman image mount`` gives the image's root filesystem and ``podman image inspect`` its
config (Entrypoint, Cmd, Env, User, WorkingDir, Healthcheck). :class:`Container` puts them
together with util-linux, as root:

- ``unshare --mount --net``: private mounts (they vanish with the process) and a network
  namespace of its own with only loopback, like ``docker run`` without ``-p``;
- a writable overlay over the read-only image (Docker's container layer), ``/proc``, a minimal
  ``/dev``, a tmpfs ``/tmp``, and a tmpfs for each data volume owned as the image's directory is
  (Docker initialises a new named volume from it);
- ``chroot --userspec`` as the image's USER, with the image's Env and WorkingDir (``env -i``).

:meth:`Container.exec` runs a command inside it as ``docker exec`` does (``nsenter`` into its
namespaces, then the same chroot), which is how the HEALTHCHECK runs.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Runs inside the new namespaces as root: lay out the container, then become the image's user.
#: $1 image root, $2 scratch dir, $3 user, $4 workdir, $5 data volumes (space separated),
#: then ``NAME=VALUE``... ``--`` command...
_START = r"""
set -eu
image=$1 scratch=$2 user=$3 workdir=$4 volumes=$5
shift 5
mount -t tmpfs -o mode=0755 pantau-layer "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
root=$scratch/root
mount -t overlay overlay \
  -o "lowerdir=$image,upperdir=$scratch/upper,workdir=$scratch/work" "$root"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for dev in null zero full random urandom tty; do
  touch "$root/dev/$dev"
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
ln -s /proc/self/fd "$root/dev/fd"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/tmp"
for volume in $volumes; do
  owner=$(stat -c 'uid=%u,gid=%g,mode=0%a' "$image$volume")
  mount -t tmpfs -o "$owner,nosuid,nodev,size=64m" tmpfs "$root$volume"
done
ip link set lo up
exec chroot --userspec="$user" "$root" /usr/bin/env -i -C "$workdir" "$@"
"""


@dataclass(frozen=True)
class ImageConfig:
    """The parts of ``podman image inspect`` a container engine acts on."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    user: str
    workdir: str
    volumes: list[str]
    exposed: list[str]
    labels: dict[str, str]
    stop_signal: str
    healthcheck: list[str]
    size: int

    @classmethod
    def inspect(cls, podman: str, image: str) -> ImageConfig:
        """Read the config of ``image`` from podman's store."""
        result = subprocess.run(
            [podman, "image", "inspect", image],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        data: dict[str, Any] = json.loads(result.stdout)[0]
        config = data["Config"]
        # Only a docker-format image keeps HEALTHCHECK (the OCI format drops it).
        test = (data.get("Healthcheck") or {}).get("Test") or []
        return cls(
            entrypoint=config.get("Entrypoint") or [],
            cmd=config.get("Cmd") or [],
            env=dict(item.split("=", 1) for item in config.get("Env") or []),
            user=config.get("User") or "0:0",
            workdir=config.get("WorkingDir") or "/",
            volumes=sorted(config.get("Volumes") or {}),
            exposed=sorted(config.get("ExposedPorts") or {}),
            labels=config.get("Labels") or {},
            stop_signal=config.get("StopSignal") or "",
            healthcheck=list(test),
            size=int(data["Size"]),
        )


def home_of(root: Path, uid: int) -> str:
    """HOME as Docker sets it: the user's home in the image's /etc/passwd, else ``/``."""
    for line in (root / "etc/passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2] == str(uid):
            return fields[5]
    return "/"


class Container:
    """One process started from the image's root filesystem and config (see module doc)."""

    def __init__(
        self,
        root: Path,
        config: ImageConfig,
        scratch: Path,
        data_volumes: list[str],
        log: Path,
    ) -> None:
        self.root = root
        self.config = config
        self.scratch = scratch
        self.data_volumes = data_volumes
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> list[str]:
        """The image's Env plus HOME, as ``NAME=VALUE`` words for ``env -i``."""
        uid = int(self.config.user.split(":")[0])
        env = {"HOME": home_of(self.root, uid), **self.config.env}
        return [f"{name}={value}" for name, value in env.items()]

    def start(self, command: list[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` (``ENTRYPOINT + CMD`` for the image's default) as PID of the agent.

        Every step execs the next (unshare, sh, chroot, env), so the returned process *is* the
        command: a signal sent to it is what ``docker stop`` sends, and its exit code is the
        container's.
        """
        self.scratch.mkdir(parents=True, exist_ok=True)
        args = [
            "unshare",
            "--mount",
            "--net",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            _START,
            "container",
            str(self.root),
            str(self.scratch),
            self.config.user,
            self.config.workdir,
            " ".join(self.data_volumes),
            *self.environment(),
            *command,
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=out)
        return self.process

    def exec(
        self, command: list[str], *, timeout: float = 30, user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` inside the running container (``docker exec``)."""
        assert self.process is not None, "start() the container first"
        args = [
            "nsenter",
            f"--target={self.process.pid}",
            "--mount",
            "--net",
            "--",
            "chroot",
            f"--userspec={user or self.config.user}",
            str(self.scratch / "root"),
            "/usr/bin/env",
            "-i",
            "-C",
            self.config.workdir,
            *self.environment(),
            *command,
        ]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)

    def in_network(
        self, command: list[str], *, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a host program in the container's network namespace only (a client next door)."""
        assert self.process is not None, "start() the container first"
        args = ["nsenter", f"--target={self.process.pid}", "--net", "--", *command]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self, timeout: float = 10) -> None:
        """Kill the process if a test left it running (mounts go with its namespace)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def output(self) -> str:
        """Everything the container printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")
