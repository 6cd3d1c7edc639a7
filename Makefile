# larq2mcu — two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv, install the package with every dependency (pip; Debian packages when root),
# then run. The stamp file makes the set-up a no-op the second time.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.l2m-installed
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-system-misc \
  gcc-riscv64-unknown-elf gcc-xtensa-lx106 binutils-xtensa-lx106 dataset-fashion-mnist clang \
  cppcheck clang-tidy libclang-rt-14-dev chromium postgresql
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 3
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=15
N ?= 200

.PHONY: setup demo test apt bench fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory apt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints-ci.txt -e '.[test,compare,boards,bench,search]'
	@# larq-zoo (tests only) pins protobuf<3.21, which TF 2.21 cannot use: its model builders need
	@# neither, so it and zookeeper go in without their pins; zookeeper only imports tfds/typeguard
	$(VENV)/bin/pip install -q --no-deps larq-zoo==2.4.0 zookeeper==1.4.0
	$(VENV)/bin/pip install -q -c constraints-ci.txt typeguard tensorflow-datasets
	touch $(STAMP)

# Debian toolchains and data: installed when we are root and they are missing; otherwise say so.
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "Debian packages: all present"; \
	elif [ "$$(id -u)" = 0 ]; then echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	  || echo "WARNING: apt-get failed; toolchain tests will be skipped"; \
	else echo "NOTE: not root, not installing:$$missing (toolchain tests will be skipped)"; fi

demo: $(STAMP)
	$(PY) -m larq2mcu.demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench

fuzz: $(STAMP)
	$(PY) -m larq2mcu.dev.fuzz --models $(N)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
