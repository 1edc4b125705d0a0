# `make run` brings up everything Hubs needs and runs it; `make test` runs the tests.
.PHONY: run test services stop lint bench
run:
	tools/dev.sh run
test:
	tools/dev.sh test
services:
	tools/dev.sh services
stop:
	tools/dev.sh stop
lint:
	.venv/bin/ruff check hubs tests bench populate.py
