# sotto: build, run and test.
#   make run    fetch what is missing, build, and serve on 127.0.0.1:8080 (extra flags: ARGS="...")
#   make test   fetch what is missing, lint (Dockerfile, Rust, front end), and run the whole test suite
# A real model to chat with: ./target/release/sotto models pull hf:... (README, "Use a real model").
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --warn-undefined-variables
.DELETE_ON_ERROR:

CARGO      ?= cargo
PYTHON     ?= python3
ARGS       ?=
MODELS_DIR ?= $(CURDIR)/models
VENV       := $(CURDIR)/.venv
VENV_STAMP := $(VENV)/.requirements.stamp
# instructor's pins conflict with .venv's openai (see requirements-instructor.txt): its own virtualenv.
VENV_INSTRUCTOR       := $(CURDIR)/.venv-instructor
VENV_INSTRUCTOR_STAMP := $(VENV_INSTRUCTOR)/.requirements.stamp
BIN        := target/release/sotto

# Debian packages needed to build llama-cpp-sys-2 (cmake, libclang for bindgen, a C++ compiler),
# and the font sotto-bench draws its chart with.
APT_PACKAGES := cmake libclang-dev g++ pkg-config fonts-dejavu-core

# Browser tests (tests/browser.rs → tests/e2e/): Debian's Chromium, a font for it to draw with,
# and playwright-core from tests/e2e/package-lock.json. Node.js 20+ and npm come with the machine.
E2E_DIR          := tests/e2e
E2E_STAMP        := $(E2E_DIR)/node_modules/.installed.stamp
E2E_APT_PACKAGES := chromium fonts-dejavu-core
# ESLint and Prettier (eslint.config.mjs, .prettierrc.json) come from the same package-lock.json.
E2E_BIN          := $(E2E_DIR)/node_modules/.bin
FRONTEND_FILES   := static/app static/chat.css 'tests/e2e/*.mjs' eslint.config.mjs

.PHONY: help dev-null deps model build build-vulkan run venv lint-docker browser-deps vendor-frontend test lint lint-frontend format-frontend clean

help: ## List the targets
	@echo 'sotto: make run (build and serve on 127.0.0.1:8080) | make test (full test suite)'
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# Some sandboxes start with /dev/null as a regular file. What one program writes to it the next one
# reads back: cargo's rustc probe then compiles the `dpkg -s` output below, fails, and caches the
# failure in target/.rustc_info.json for every later build. Put the device back (atomically, as other
# programs may be writing to the file meanwhile) and drop a cached failed probe.
dev-null:
	@if [[ ! -c /dev/null ]]; then \
	  echo "dev-null: /dev/null is not a character device; recreating it"; \
	  sudo=(); [[ "$$(id -u)" == 0 ]] || sudo=(sudo); \
	  "$${sudo[@]}" mknod -m 0666 "/dev/null.sotto-$$$$" c 1 3; \
	  "$${sudo[@]}" mv -f "/dev/null.sotto-$$$$" /dev/null; \
	fi
	@if grep -qs '"success":false' target/.rustc_info.json; then rm -f target/.rustc_info.json; fi

deps: dev-null ## Install missing system packages (apt)
	@missing=(); \
	for pkg in $(APT_PACKAGES); do \
	  dpkg -s "$$pkg" >/dev/null 2>&1 || missing+=("$$pkg"); \
	done; \
	if ! $(PYTHON) -c 'import venv, ensurepip' >/dev/null 2>&1; then missing+=(python3-venv); fi; \
	if ! $(PYTHON) -m pip --version >/dev/null 2>&1; then missing+=(python3-pip); fi; \
	if (( $${#missing[@]} == 0 )); then echo "deps: system packages present"; exit 0; fi; \
	echo "deps: installing $${missing[*]}"; \
	command -v apt-get >/dev/null 2>&1 || { echo "deps: apt-get not found; install $${missing[*]} by hand" >&2; exit 1; }; \
	sudo=(); \
	if [[ "$$(id -u)" != 0 ]]; then \
	  command -v sudo >/dev/null 2>&1 || { echo "deps: not root and no sudo; install $${missing[*]} by hand" >&2; exit 1; }; \
	  sudo=(sudo); \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	"$${sudo[@]}" apt-get update -qq; \
	"$${sudo[@]}" apt-get install -y -qq --no-install-recommends "$${missing[@]}"

browser-deps: $(E2E_STAMP) ## Install what the browser tests need (chromium via apt, npm ci in tests/e2e)
	@missing=(); \
	for pkg in $(E2E_APT_PACKAGES); do \
	  dpkg -s "$$pkg" >/dev/null 2>&1 || missing+=("$$pkg"); \
	done; \
	[[ -x /usr/bin/chromium ]] || missing+=(chromium); \
	if (( $${#missing[@]} == 0 )); then echo "browser-deps: chromium present"; exit 0; fi; \
	echo "browser-deps: installing $${missing[*]}"; \
	sudo=(); \
	if [[ "$$(id -u)" != 0 ]]; then sudo=(sudo); fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	"$${sudo[@]}" apt-get update -qq; \
	"$${sudo[@]}" apt-get install -y -qq --no-install-recommends "$${missing[@]}"

# npm ci again whenever the lock file changes (it empties node_modules, stamp included).
$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "browser-deps: Node.js 20.19+ and npm are required" >&2; exit 1; }
	@node -e 'const [major, minor] = process.versions.node.split(".").map(Number); process.exit(major > 20 || (major === 20 && minor >= 19) ? 0 : 1)' || { echo "browser-deps: Node.js 20.19+ is required (ESLint), found $$(node --version)" >&2; exit 1; }
	npm ci --prefix $(E2E_DIR) --no-audit --no-fund
	touch "$@"

vendor-frontend: ## Re-fetch the chat page's libraries (marked, DOMPurify, highlight.js) into static/vendor/
	./scripts/vendor-frontend.sh

model: ## Fetch the models into models/: SmolLM2-135M (default) and Gemma 3 270M (SHA-256 checked)
	@PYTHON=$(PYTHON) ./scripts/fetch-model.sh "$(MODELS_DIR)"

build: dev-null ## Build the server (cargo build --release -p sotto; not the benchmark in bench/)
	$(CARGO) build --release --locked -p sotto

# Not run in CI (no GPU there): Debian's Vulkan headers and loader, and glslc for llama.cpp's shaders.
VULKAN_APT_PACKAGES := libvulkan-dev glslc
build-vulkan: deps ## Build the server with llama.cpp's Vulkan backend (installs libvulkan-dev, glslc)
	@missing=(); \
	for pkg in $(VULKAN_APT_PACKAGES); do dpkg -s "$$pkg" >/dev/null 2>&1 || missing+=("$$pkg"); done; \
	if (( $${#missing[@]} )); then \
	  sudo=(); [[ "$$(id -u)" == 0 ]] || sudo=(sudo); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  "$${sudo[@]}" apt-get update -qq; \
	  "$${sudo[@]}" apt-get install -y -qq --no-install-recommends "$${missing[@]}"; \
	fi
	$(CARGO) build --release --locked -p sotto --features vulkan

run: deps model build ## Build and serve on 127.0.0.1:8080 (extra flags: ARGS="...")
	SOTTO_MODELS_DIR="$(MODELS_DIR)" exec ./$(BIN) serve $(ARGS)

venv: $(VENV_STAMP) $(VENV_INSTRUCTOR_STAMP) ## Python virtualenvs with the test tools (requirements-test.txt, requirements-instructor.txt)

$(VENV_STAMP): requirements-test.txt
	rm -rf "$(VENV)"
	$(PYTHON) -m venv "$(VENV)"
	"$(VENV)/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r requirements-test.txt
	touch "$@"

$(VENV_INSTRUCTOR_STAMP): requirements-instructor.txt
	rm -rf "$(VENV_INSTRUCTOR)"
	$(PYTHON) -m venv "$(VENV_INSTRUCTOR)"
	"$(VENV_INSTRUCTOR)/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r requirements-instructor.txt
	touch "$@"

lint-docker: venv ## Lint the Dockerfile (hadolint) and compose.yaml (the Compose specification)
	"$(VENV)/bin/hadolint" --failure-threshold warning Dockerfile
	"$(VENV)/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml

# Both crates of the workspace. bench/tests/bench_smoke.rs runs target/release/sotto: cargo
# builds that binary for the server's own integration tests, and compiles everything before it
# runs any test. (A separate `cargo build -p sotto` first would build the server a second time:
# without the tests' dev-dependencies, its dependencies get other features.)
test: deps model venv lint-docker browser-deps lint ## Lint, then run the whole test suite (server and benchmark)
	SOTTO_TEST_PYTHON="$(VENV)/bin/python" SOTTO_TEST_INSTRUCTOR_PYTHON="$(VENV_INSTRUCTOR)/bin/python" \
	  $(CARGO) test --release --locked --workspace

lint: dev-null lint-frontend ## fmt and clippy over the workspace, and lint-frontend
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --release --locked -- -D warnings

lint-frontend: $(E2E_STAMP) ## ESLint and prettier --check on the chat page's modules and the browser tests
	$(E2E_BIN)/eslint --max-warnings 0 static/app tests/e2e eslint.config.mjs
	$(E2E_BIN)/prettier --check $(FRONTEND_FILES)

format-frontend: $(E2E_STAMP) ## Format the chat page's modules, its CSS and the browser tests with Prettier
	$(E2E_BIN)/prettier --write $(FRONTEND_FILES)

clean: ## Remove build output and the virtualenvs (keeps models/)
	$(CARGO) clean
	rm -rf "$(VENV)" "$(VENV_INSTRUCTOR)"
