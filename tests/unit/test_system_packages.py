"""scripts/system_packages.sh (`make install`): installs what the tests need where it is missing, as
root or with sudo, and otherwise names the packages and the command to run.

The script runs with a PATH holding only recording stand-ins for `id`, `sudo` and `apt-get` (so the
real machine's packages are neither seen nor touched) and whichever of redis-server and chromium a
case says are present.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "system_packages.sh"
DEBIAN = 'ID=debian\nVERSION_ID="12"\n'
UBUNTU = 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def run_script(tmp_path: Path, *, uid: int = 0, present: tuple[str, ...] = (), sudo: bool = True,
               apt: bool = True, apt_fails: bool = False, os_release: str = DEBIAN,
               env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    log.touch()
    os.symlink("/usr/bin/env", bin_dir / "env")
    _stub(bin_dir, "id", f"echo {uid}")
    for name in present:
        _stub(bin_dir, name, "exit 0")
    if sudo:
        _stub(bin_dir, "sudo", f'echo "sudo $*" >> {log}; exec "$@"')
    if apt:
        _stub(bin_dir, "apt-get", f'echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {log}; exit {int(apt_fails)}')
    (tmp_path / "os-release").write_text(os_release)
    environment = {"PATH": str(bin_dir), "MEDEMBED_OS_RELEASE": str(tmp_path / "os-release"), **(env or {})}
    result = subprocess.run(["/bin/bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=30)
    return result, log.read_text().splitlines()


def test_nothing_is_installed_when_everything_is_there(tmp_path):
    result, calls = run_script(tmp_path, uid=1000, present=("redis-server", "chromium"))
    assert result.returncode == 0 and calls == []


def test_root_installs_the_missing_packages_with_apt_get(tmp_path):
    result, calls = run_script(tmp_path, uid=0, present=("chromium",))
    assert result.returncode == 0, result.stderr
    assert calls == ["apt-get update -qq DEBIAN_FRONTEND=",
                     "apt-get install -y -qq redis-server DEBIAN_FRONTEND=noninteractive"]
    assert "installing redis-server" in result.stdout


def test_a_user_with_sudo_installs_with_sudo(tmp_path):
    result, calls = run_script(tmp_path, uid=1000)
    assert result.returncode == 0, result.stderr
    assert calls[0] == "sudo apt-get update -qq"
    assert calls[2] == "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server chromium"
    assert calls[3] == "apt-get install -y -qq redis-server chromium DEBIAN_FRONTEND=noninteractive"


def test_without_root_or_sudo_the_message_names_the_packages_and_the_command(tmp_path):
    result, calls = run_script(tmp_path, uid=1000, sudo=False)
    assert result.returncode == 1 and calls == []
    assert "redis-server chromium" in result.stderr
    assert "as root, run: apt-get update && apt-get install -y redis-server chromium" in result.stderr


def test_a_failed_install_says_what_to_run(tmp_path):
    result, _ = run_script(tmp_path, uid=0, present=("redis-server",), apt_fails=True)
    assert result.returncode == 1
    assert "could not install chromium. As root, run: apt-get update && apt-get install -y chromium" in result.stderr


def test_without_apt_get_the_message_names_the_packages(tmp_path):
    result, _ = run_script(tmp_path, uid=0, apt=False)
    assert result.returncode == 1
    assert "need redis-server chromium, and this is not a system with apt-get" in result.stderr


@pytest.mark.parametrize("present", [("google-chrome",), ("chromium-browser",)])
def test_other_chromium_binaries_count(tmp_path, present):
    result, calls = run_script(tmp_path, uid=0, present=("redis-server", *present))
    assert result.returncode == 0 and calls == []


def test_medembed_chromium_counts_as_chromium(tmp_path):
    result, calls = run_script(tmp_path, uid=0, present=("redis-server",), env={"MEDEMBED_CHROMIUM": "/opt/chrome"})
    assert result.returncode == 0 and calls == []


def test_ubuntu_gets_redis_and_an_explanation_for_chromium(tmp_path):
    result, calls = run_script(tmp_path, uid=0, os_release=UBUNTU)
    assert result.returncode == 1
    assert calls[-1] == "apt-get install -y -qq redis-server DEBIAN_FRONTEND=noninteractive"
    assert "Ubuntu ships it only as a snap" in result.stderr and "MEDEMBED_CHROMIUM" in result.stderr
