"""Fixtures shared by every test area."""

from __future__ import annotations

import fcntl
import pwd
import subprocess

import pytest

TEST_USER = "layerfs-test"


@pytest.fixture
def unprivileged_user() -> pwd.struct_passwd:
    """An ordinary user for tests that must run unprivileged, created once with useradd
    (under a lock: tests run in parallel). Needs root; the user is left in place."""
    with open("/tmp/.layerfs-test-useradd.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return pwd.getpwnam(TEST_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                 TEST_USER],
                check=True,
            )
            return pwd.getpwnam(TEST_USER)
