# The two commands of the quick start: `make run` and `make test`. Everything runs from the
# project root so that our package `trace` wins over the standard library's module of that name.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
HOST ?= 127.0.0.1
# The local demo witness listens beside the app (7380 for the default port 5000).
WITNESS_PORT ?= $(shell echo $$(($(PORT) + 2380)))
STAMP := $(VENV)/.installed

.PHONY: run test setup db bench clean translations

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > $(VENV)/requirements.txt
	$(BIN)/pip install --quiet -r $(VENV)/requirements.txt
	touch $(STAMP)

setup: $(STAMP)
	$(BIN)/pybabel -q compile -d trace/translations -D messages

# After changing messages in the code or templates: extract them, merge them into the catalogue,
# then fill in the Chinese in trace/translations/zh/LC_MESSAGES/messages.po (a test finds gaps).
translations: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k lazy_gettext -k N_ -k pgettext:1c,2 --sort-by-file --no-wrap -o trace/translations/messages.pot .
	$(BIN)/pybabel -q update -i trace/translations/messages.pot -d trace/translations -D messages --no-fuzzy-matching --no-wrap

db: setup
	$(BIN)/flask --app trace init
	$(BIN)/flask --app trace demo --if-empty

# One local witness (its own key and state in instance/) runs beside the app for the demo, and
# the app asks it to cosign; the bureau runs its own on its own machine (see the README).
run: db
	@echo "Demo packages a consumer might scan:"
	@TRACE_PUBLIC_URL=http://$(HOST):$(PORT) $(BIN)/flask --app trace packages --limit 3
	@wkey="$$($(BIN)/flask --app trace witness key)" || exit 1; \
	export TRACE_WITNESSES="$$wkey http://$(HOST):$(WITNESS_PORT)"; \
	$(BIN)/flask --app trace witness serve --host $(HOST) --port $(WITNESS_PORT) & wpid=$$!; \
	trap 'kill $$wpid 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python -c "import socket, sys, time; exec('for _ in range(200):\n try: socket.create_connection((\"$(HOST)\", $(WITNESS_PORT)), 1).close(); sys.exit(0)\n except OSError: time.sleep(0.1)'); sys.exit('the demo witness did not start')" || exit 1; \
	$(BIN)/flask --app trace witness cosign || true; \
	echo "Serving on http://$(HOST):$(PORT)/  portal: http://$(HOST):$(PORT)/login  public log: http://$(HOST):$(PORT)/log/checkpoint"; \
	echo "Local demo witness: http://$(HOST):$(WITNESS_PORT)/  audit page (regulator): http://$(HOST):$(PORT)/audit"; \
	$(BIN)/gunicorn --chdir $(CURDIR) --bind $(HOST):$(PORT) --workers 2 --threads 4 --access-logfile - 'trace:create_app()'

test: setup
	scripts/test-system
	TRACE_TEST_POSTGRES="$$(scripts/pg-test-url)" $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/bench_ledger.py

clean:
	rm -rf $(VENV) .pytest_cache

# Re-vendor the browser QR decoder from npm (static/vendor/; needs npm, never run by run/test).
.PHONY: vendor
vendor:
	tools/npm/refresh.sh
