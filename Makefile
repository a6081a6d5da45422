# litellm-xacct developer commands. Every target makes its own virtualenv from the hashed lock files,
# so a fresh machine with Python 3.11 and pip needs nothing else.
PYTHON ?= python3
VERSIONS ?= newest 1.82.3
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: test services demo check lint bench bench-load bench-overhead bench-scale bench-replicas bench-metrics bench-index bench-profile lock clean  # not test-%: make skips pattern rules for phony targets

.PRECIOUS: .venv-%/.installed  # keep the marker: pattern-rule prerequisites are deleted as intermediates otherwise

test: $(addprefix test-,$(VERSIONS))  ## the full suite on every supported LiteLLM (README's test command)

test-%: .venv-%/.installed
	.venv-$*/bin/python -m pytest -q $(PYTEST_ARGS)

# The fresh-virtualenv extras test (tests/test_extras.py) installs from the newest lock: run it once per CI run.
test-newest: export XACCT_FRESH_VENV := 1

# System services the tests start themselves: Debian's redis-server (replica tests). Installed only when missing;
# needs root (CI runs as root). Outside CI without it, the replica tests are skipped with the reason.
services:
	@command -v redis-server >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server; }
	@redis-server --version

.venv-%/.installed: requirements/lock-%.txt pyproject.toml
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/lock-$*.txt
	.venv-$*/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

demo: .venv-newest/.installed  ## offline demo: local AWS stand-in + real proxy + openai client
	.venv-newest/bin/litellm-xacct demo

check: .venv-newest/.installed  ## lint example_config.yaml
	.venv-newest/bin/litellm-xacct check example_config.yaml

lint: .venv-newest/.installed
	.venv-newest/bin/ruff check litellm_xacct tests benchmarks
	.venv-newest/bin/mypy litellm_xacct

bench: .venv-newest/.installed  ## credential-engine benchmark vs native bedrock/
	.venv-newest/bin/python benchmarks/credentials.py

bench-load: .venv-newest/.installed  ## proxy load: 4 departments + default, 2,000 requests, 1 and 2 workers
	.venv-newest/bin/python benchmarks/proxy_load.py

bench-overhead: .venv-newest/.installed  ## proxy overhead: native bedrock/ vs bedrock-xacct/ vs a do-nothing floor
	.venv-newest/bin/python benchmarks/proxy_overhead.py

bench-scale: .venv-newest/.installed  ## 1,000 deployments: startup, memory, throttled cold fan-out, refresh load
	.venv-newest/bin/python benchmarks/scale.py

bench-replicas: .venv-newest/.installed services  ## two replicas sharing Redis, dept-a throttled: misrouted, failures, p50/p99
	.venv-newest/bin/python benchmarks/replicas.py

bench-metrics: .venv-newest/.installed  ## /metrics scraped from a 2-worker proxy, each counted series checked against the wire
	.venv-newest/bin/python benchmarks/metrics.py

bench-index: .venv-newest/.installed  ## per-request guard + isolation cost at 10 / 1,000 / 10,000 deployments
	.venv-newest/bin/python benchmarks/isolation_index.py

bench-profile: .venv-newest/.installed  ## cProfile one proxy: bedrock-xacct beside native bedrock/, plain and stream
	.venv-newest/bin/python benchmarks/profile_request.py

lock:  ## re-resolve the hashed lock files (needs uv)
	uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 requirements/dev.in requirements/litellm-newest.in -o requirements/lock-newest.txt
	uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 requirements/dev.in requirements/litellm-1.82.3.in -o requirements/lock-1.82.3.txt

clean:
	rm -rf .venv-* .pytest_cache build *.egg-info
