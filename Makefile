# Fenxiang: `make run` serves the demo shop (with the notification worker beside it), `make test`
# runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
export FLASK_APP := wsgi.py

.PHONY: run serve test bench audit upgrade install install-test translations messages lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps make installs re-run only when the dependency list changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-redis: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[redis]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Compiled catalogues (.mo) are build output, made from the committed .po files.
translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d shop/translations

run: install translations
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	$(BIN)/flask check-config
	@echo "Fenxiang is at http://$(HOST):$(PORT)/ (and flask worker delivers notifications)"
	@echo "Sign-in codes go to this log (SMS_PROVIDER=console) and show on the page as 演示验证码 (DEMO_MODE)."
	@export SHOP_SMS_PROVIDER=$${SHOP_SMS_PROVIDER:-console} SHOP_DEMO_MODE=$${SHOP_DEMO_MODE:-true}; \
		$(BIN)/flask worker & worker=$$!; \
		trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
		$(BIN)/flask run --host $(HOST) --port $(PORT)

# Production (docs/production.md): no demo data; gunicorn with gunicorn.conf.py (sync
# workers, 2 x cores + 1 unless SHOP_WORKERS is set), one JSON log line per request, and
# administrators must sign in with a second factor (SHOP_STAFF_TOTP_REQUIRED). `flask check-config`
# refuses to start with settings the data cannot honour (a team override above a platform fee).
serve: $(VENV)/.installed-redis translations
	$(BIN)/flask db upgrade
	$(BIN)/flask check-config
	HOST=$(HOST) PORT=$(PORT) SHOP_REQUEST_LOG=$${SHOP_REQUEST_LOG:-true} \
		SHOP_STAFF_TOTP_REQUIRED=$${SHOP_STAFF_TOTP_REQUIRED:-true} \
		exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: install-test translations
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest

# Known vulnerabilities in what .venv has (scripts/audit.py): fails only on a finding; what it
# could not audit (pins older than the registry's latest) is printed as warnings.
PIP_AUDIT_VERSION := 2.10.1
audit: install-test
	rm -rf .audit-venv
	$(PYTHON) -m venv .audit-venv
	.audit-venv/bin/pip install --quiet pip-audit==$(PIP_AUDIT_VERSION)
	.audit-venv/bin/python scripts/audit.py .audit-venv/bin/pip-audit $(BIN)/python; \
		status=$$?; rm -rf .audit-venv; exit $$status

# Moves every pin in constraints.txt to the newest release the resolver accepts, then runs the
# tests with them. Review the diff of constraints.txt and commit it with the test result.
upgrade:
	rm -rf .upgrade-venv
	$(PYTHON) -m venv .upgrade-venv
	.upgrade-venv/bin/python -m pip install --quiet --upgrade pip
	.upgrade-venv/bin/pip install --quiet -e ".[test,redis]"
	.upgrade-venv/bin/pip freeze --exclude-editable | sort -f > constraints.txt
	rm -rf .upgrade-venv
	$(MAKE) test

# Reports, not gates: ratios against baselines measured in the same run (bench/README.md).
# bench_http.py and bench_callbacks.py need wrk (apt-get install wrk); bench_http.py's Redis
# case needs redis-server.
bench: $(VENV)/.installed-redis translations
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_callbacks.py
	$(BIN)/python bench/bench_posters.py
	$(BIN)/python bench/bench_poster_http.py
	$(BIN)/python bench/bench_stats.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_notify.py

# For developers: re-extract strings and update both catalogues after changing text.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.*' --no-location --sort-output --omit-header -o shop/translations/messages.pot .
	$(BIN)/pybabel update -i shop/translations/messages.pot -d shop/translations --no-fuzzy-matching --ignore-obsolete --no-wrap

clean:
	rm -rf $(VENV) .audit-venv .upgrade-venv .pytest_cache .ruff_cache
