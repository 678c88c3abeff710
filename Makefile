# `make demo` and `make test` set up .venv themselves; everything else builds on them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first, pinned to the build this machine has on disk; override elsewhere, e.g. TORCH_PKGS="torch torchvision"
TORCH_PKGS ?= torch==2.14.1 torchvision==0.29.1
# weights directory: ../shared/weights when it exists (CI), else the user cache
NST_BENCH_WEIGHTS ?= $(if $(wildcard ../shared/weights),$(abspath ../shared/weights),$(HOME)/.cache/nst-bench/weights)
export NST_BENCH_WEIGHTS

.PHONY: setup demo test lint bench package-check results-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PKGS)
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nst-bench sweep configs/sweeps/demo.yaml
	@echo "demo: results/demo/{table.md,report.html,plots/}, one folder per trial, offline W&B runs in */wandb/"

test: $(STAMP)
	NST_BENCH_OFFLINE=1 $(BIN)/pytest -q
	$(BIN)/ruff check .

# every results/<study>/README.md re-rendered from its page.md and data files (nothing recomputed)
results-check: $(STAMP)
	$(BIN)/nst-bench report --check

# ruff's linter only: the code is laid out by hand to 120 columns, not by ruff format
lint: $(STAMP)
	$(BIN)/ruff check .

# the wheel as a user gets it: built by `python -m build`, installed into a new venv, run outside this tree
PKG := $(abspath .venv-pkg)
package-check: $(STAMP)
	rm -rf build dist $(PKG) /tmp/nst-bench-package-check
	$(BIN)/python -m build --wheel --outdir dist . > /dev/null
	$(PY) -m venv $(PKG)
	$(PKG)/bin/pip install -q $(TORCH_PKGS) dist/nst_bench-*.whl
	cd /tmp && $(PKG)/bin/nst-bench --version && $(PKG)/bin/nst-bench weights && NST_BENCH_OFFLINE=1 \
	    $(PKG)/bin/nst-bench stylize --content $(abspath assets/demo/content/chelsea.jpg) --no-progress \
	    --style $(abspath assets/demo/style/starry_night.jpg) --size 64 --steps 3 --out /tmp/nst-bench-package-check
	test -s /tmp/nst-bench-package-check/stylized.jpg && test -s /tmp/nst-bench-package-check/metrics.json

# runtime table (~30 min), then Gatys time to quality with its bf16 check (hours: one reference and one
# nst-bench run per cell; finished cells are kept, so an interrupted run resumes)
bench: $(STAMP)
	bash experiments/runtime.sh
	bash experiments/time_to_quality.sh

clean:
	rm -rf $(VENV) $(PKG) build dist .pytest_cache
