# Two commands on a fresh Debian/Ubuntu machine: `make demo` and `make test`.
# Each installs what is missing (Debian packages, a virtual env, the project)
# and skips what is already done.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PKGS := mosquitto mosquitto-clients libzbar0 libgl1 libegl1 libegl-mesa0 \
	libgl1-mesa-dri libmtdev1 libfribidi0 fonts-noto-core fonts-dejavu-core socat faketime softhsm2 strace stress-ng \
	chromium chromium-driver espeak-ng sox wrk \
	pcscd vsmartcard-vpcd vsmartcard-vpicc python3-pycryptodome libpcsclite-dev swig \
	xvfb xdotool x11-apps imagemagick
# One pytest worker per core (at most 4): most tests wait on brokers, pseudo-terminals
# and subprocesses, so each worker keeps its core busy (2026-12-03: 912 tests in 11.6 min
# on two idle cores; tests/durations.txt lists the slowest).
# Every test already has its own broker port, temp dir and PostgreSQL schema.
# --durations=25: the CI log lists the slowest tests, so a slow one is seen when it comes.
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist worksteal --durations=25

.PHONY: setup system venv test test-loaded demo bench lint clean i18n

setup: system venv

# Debian packages: only those not installed yet, `apt-get update` only when needed.
system:
	@missing=""; for p in $(APT_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv python3-pip"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	@$(PY) -m pip install -q -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	@$(PY) -c 'import kiosk, central, contract, paho.mqtt, sqlalchemy, cbor2, kivy' 2>/dev/null
	@touch $(STAMP)

# Screen texts: extract the keys (babel.cfg), merge them into the ar/ckb/en .po files,
# compile the .mo files the kiosk ships (tests/test_i18n_catalogue.py checks they are current).
i18n: venv
	$(VENV)/bin/pybabel extract -F babel.cfg --no-location --sort-output -o kiosk/locale/kiosk.pot .
	$(VENV)/bin/pybabel update -i kiosk/locale/kiosk.pot -d kiosk/locale -D kiosk --no-fuzzy-matching --ignore-obsolete --width 0
	$(VENV)/bin/pybabel compile -d kiosk/locale -D kiosk --statistics

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite while stress-ng keeps both cores busy: no test may depend on speed.
# stress-ng runs in the background and is always stopped, pass or fail.
test-loaded: setup
	@stress-ng --cpu 2 --timeout 3h --quiet & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null' EXIT INT TERM; \
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m kiosk.demo

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
