# layerfs: the two Quick start commands (run as root on a fresh Debian machine).
#   make demo   install what is needed, then run the seed's labs end to end
#   make test   install what is needed, then run ruff and the whole test suite
# Both are safe to run twice: apt only installs what is missing, the venv is reused.

SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV := .venv
VPY := $(VENV)/bin/python
APT_PACKAGES := python3 python3-venv python3-dev gcc attr fuse3 fuse-overlayfs runc \
	skopeo umoci podman buildah docker-registry busybox-static debootstrap uidmap \
	iproute2 procps tar gzip zstd util-linux chromium jq openssl acl

.PHONY: setup apt venv helper test-users demo test lint bench clean

setup: apt venv helper

# mount(8) looks for mount.fuse.layerfs in /sbin: link the venv's console script there (root only).
helper: venv
	@if [ "$$(id -u)" = 0 ]; then ln -sfn $(CURDIR)/$(VENV)/bin/mount.fuse.layerfs /sbin/mount.fuse.layerfs; fi

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev]'
	touch $@

demo: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH bash demo/run.sh

test: setup test-users
	$(VENV)/bin/ruff check src tests bench demo
	$(VENV)/bin/pytest -n 2 tests

# Some tests run steps as ordinary users (layerfs-test, and uid 65534) with .venv/bin/python:
# create the user and let both traverse (x only, by ACL) the directories above this clone,
# which may be private (a clone in /root or in a `mktemp -d` dir).
TEST_USERS := layerfs-test 65534
test-users: setup
	@if [ "$$(id -u)" = 0 ]; then \
		id -u layerfs-test >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin layerfs-test; \
		d="$(CURDIR)"; while [ "$$d" != / ]; do \
			for u in $(TEST_USERS); do setfacl -m "u:$$u:x" "$$d"; done; d=$$(dirname "$$d"); \
		done; \
	fi

lint: venv
	$(VENV)/bin/ruff check src tests bench demo

bench: setup
	$(VPY) bench/union_engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
