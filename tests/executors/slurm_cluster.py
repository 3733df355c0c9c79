"""A real single-node SLURM cluster for the tests, in a temporary folder.

:func:`slurm_cluster` starts ``munged`` with its own key and socket, writes a
``slurm.conf`` for this machine (its CPUs and memory from ``slurmd -C``, one partition
``debug``, no accounting, no cgroups, free ports), starts ``slurmctld`` and ``slurmd`` in
the foreground as child processes, waits until ``sinfo`` shows the node idle, and on exit
cancels every job, stops the daemons and removes the folder. The clients (``sbatch``,
``squeue``, ``scancel`` and submitit through them) find the cluster through
``SLURM_CONF``: :attr:`SlurmCluster.env`.

The daemons run as the current user (``SlurmUser`` is that user); jobs run as the same
user on this machine, so a test can see and signal their processes.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

#: The programs a cluster needs (Debian packages ``slurm-wlm`` and ``munge``).
PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "squeue", "sbatch", "scancel")


class ClusterError(RuntimeError):
    """The cluster did not come up (the message ends with the daemons' log tails)."""


def _path() -> str:
    """``PATH`` with the system folders where Debian puts the daemons."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _env(**extra: str) -> dict[str, str]:
    """The environment of the daemons and SLURM commands: this one, ``PATH`` widened."""
    return {**os.environ, "PATH": _path(), **extra}


def missing_programs() -> list[str]:
    """The programs of :data:`PROGRAMS` not found on ``PATH`` (``/usr/sbin`` included)."""
    return [name for name in PROGRAMS if shutil.which(name, path=_path()) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"({exc})"
    return "\n".join(text[-lines:]) or "(empty)"


@dataclass
class SlurmCluster:
    """A running cluster: its folder, configuration and daemons."""

    root: Path
    conf: Path
    node: str
    daemons: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables the clients need (``SLURM_CONF``, ``PATH`` with sbin)."""
        return {"SLURM_CONF": str(self.conf), "PATH": _path()}

    def command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster (output captured, never raises on
        a non-zero exit)."""
        return subprocess.run(
            list(args), capture_output=True, text=True, timeout=timeout, check=False,
            env=_env(**self.env),
        )  # fmt: skip

    def logs(self, lines: int = 30) -> str:
        """The last ``lines`` of each daemon's log, for failure messages."""
        return "\n".join(
            f"--- {path.name} (last {lines} lines)\n{_tail(path, lines)}"
            for path in sorted((self.root / "log").glob("*.log"))
        )

    def node_state(self) -> str:
        """``sinfo``'s state of the node (``idle``, ``mix``, ``alloc``, ``down*``, …)."""
        out = self.command("sinfo", "-h", "-N", "-o", "%t", "-n", self.node)
        return out.stdout.strip() or out.stderr.strip()

    def jobs(self) -> list[str]:
        """Ids of the jobs in the queue (array elements expanded)."""
        return self.command("squeue", "-h", "-r", "-o", "%i").stdout.split()

    def cancel_all(self, timeout: float = 60) -> None:
        """Cancel every job in the queue and wait until the node is idle."""
        jobs = self.jobs()
        if jobs:
            self.command("scancel", *sorted({job.split("_")[0] for job in jobs}))
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float) -> None:
        """Wait until the queue is empty and the node idle, else :class:`ClusterError`."""
        deadline = time.monotonic() + timeout
        while True:
            for name, proc in self.daemons.items():
                if proc.poll() is not None:
                    raise ClusterError(f"{name} exited with {proc.returncode}\n{self.logs()}")
            state = self.node_state()
            if state == "idle" and not self.jobs():
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {self.node} not idle after {timeout:g} s (sinfo: {state!r}, "
                    f"squeue: {self.jobs()})\n{self.logs()}"
                )
            time.sleep(0.5)


def _node_line() -> tuple[str, str]:
    """This machine's node name and ``NodeName=…`` line from ``slurmd -C``."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True,
                         timeout=60, env=_env())  # fmt: skip
    line = out.stdout.splitlines()[0]
    if not line.startswith("NodeName="):
        raise ClusterError(f"slurmd -C: expected a 'NodeName=' line, got {line!r}")
    return line.split()[0].removeprefix("NodeName="), line


def write_conf(root: Path, node_line: str, node: str, socket_path: Path) -> Path:
    """``root/slurm.conf``: one node, one default partition ``debug``, no accounting."""
    user = getpass.getuser()
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=benchtest",
                f"SlurmctldHost={node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                f"SlurmUser={user}",
                f"SlurmdUser={user}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={socket_path}",
                f"StateSaveLocation={root / 'state'}",
                f"SlurmdSpoolDir={root / 'spool'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "JobAcctGatherType=jobacct_gather/none",
                "MpiDefault=none",
                "ReturnToService=2",
                "KillWait=5",
                "MailProg=/bin/true",
                f"{node_line} NodeAddr=127.0.0.1 State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    return conf


def _start(cluster: SlurmCluster, name: str, args: list[str]) -> None:
    out = (cluster.root / "log" / f"{name}.out").open("w")
    cluster.daemons[name] = subprocess.Popen(
        args, stdout=out, stderr=subprocess.STDOUT, env=_env(**cluster.env),
        start_new_session=True,
    )  # fmt: skip
    out.close()


def _stop(cluster: SlurmCluster) -> None:
    """Cancel every job, then stop slurmd, slurmctld and munged (in that order)."""
    if "slurmctld" in cluster.daemons and cluster.daemons["slurmctld"].poll() is None:
        with suppress(subprocess.SubprocessError, OSError, ClusterError):
            cluster.cancel_all(30)
    for name in ("slurmd", "slurmctld", "munged"):
        proc = cluster.daemons.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@contextmanager
def slurm_cluster(start_timeout: float = 120) -> Iterator[SlurmCluster]:
    """A running single-node cluster (see the module docstring); torn down on exit."""
    # munged needs every folder above its socket searchable by all; socket paths are
    # short, so the folder is directly under /tmp rather than pytest's deep tmp_path.
    root = Path(tempfile.mkdtemp(prefix="bench-slurm-", dir="/tmp"))
    root.chmod(0o755)
    for sub in ("munge", "state", "spool", "log"):
        (root / sub).mkdir()
    node, node_line = _node_line()
    munge_socket = root / "munge" / "socket"
    cluster = SlurmCluster(root, write_conf(root, node_line, node, munge_socket), node)
    key = root / "munge" / "munge.key"
    try:
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, timeout=60,
                       capture_output=True, env=_env())  # fmt: skip
        key.chmod(0o400)
        _start(cluster, "munged", [
            "munged", "--foreground", f"--socket={munge_socket}", f"--key-file={key}",
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--log-file={root / 'log' / 'munged.log'}",
            f"--seed-file={root / 'munge' / 'seed'}",
        ])  # fmt: skip
        deadline = time.monotonic() + start_timeout
        while not munge_socket.exists():
            if cluster.daemons["munged"].poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"munged did not start\n{cluster.logs()}")
            time.sleep(0.1)
        _start(cluster, "slurmctld", ["slurmctld", "-D", "-f", str(cluster.conf)])
        _start(cluster, "slurmd", ["slurmd", "-D", "-f", str(cluster.conf)])
        cluster.wait_idle(start_timeout)
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(root, ignore_errors=True)
