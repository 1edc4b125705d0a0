# `make run` brings up everything Hubs needs and runs it; `make test` runs the tests (all of them),
# `make test-unit` only those that need no service (well under a minute).
.PHONY: run fleet test test-unit services stop lint bench-http bench-push bench-decide bench-store bench-amqp bench-fleet \
        bench-frozen-cache bench-push-amqp bench-pg-restart bench-storm bench-history bench-frontpage bench-stream bench-stream-push \
        bench-backfill bench-credentials
run:
	tools/dev.sh run
# N hub processes behind HAProxy on port 5000: make fleet N=3
fleet:
	tools/dev.sh fleet $(N)
test:
	tools/dev.sh test
test-unit:
	tools/dev.sh test -m unit
services:
	tools/dev.sh services
stop:
	tools/dev.sh stop
lint:
	.venv/bin/ruff check hubs tests bench tools populate.py
bench-http:
	tools/dev.sh bench http_load
# CPU per warm widget read in-process, hub vs bare Klein (steadier than wrk on a loaded machine)
.PHONY: bench-http-cpu
bench-http-cpu:
	tools/dev.sh bench http_cpu
bench-push:
	tools/dev.sh bench push
bench-push-amqp:
	tools/dev.sh bench push_amqp
bench-decide:
	tools/dev.sh bench decide
bench-stream:
	tools/dev.sh bench stream
bench-stream-push:
	tools/dev.sh bench stream_push
bench-credentials:
	tools/dev.sh bench credentials
bench-store:
	tools/dev.sh bench store
bench-amqp:
	tools/dev.sh bench amqp_edge
bench-fleet:
	tools/dev.sh bench fleet
bench-frozen-cache:
	tools/dev.sh bench frozen_cache
.PHONY: bench-edit
bench-edit:
	tools/dev.sh bench edit
# bench-edit on this tree and BEFORE (another tree) at once, edits interleaved (a fair A/B on a busy machine)
.PHONY: bench-edit-ab
bench-edit-ab:
	tools/dev.sh bench edit_ab --before $(BEFORE) $(ARGS)
bench-pg-restart:
	tools/dev.sh bench pg_restart
# One message touching 5,000 of ~59,000 widgets, 1,000 streams over 200 hubs (issue 19); --fleet 3 for a fleet.
bench-storm:
	tools/dev.sh bench storm $(ARGS)
bench-history:
	tools/dev.sh bench history
bench-frontpage:
	tools/dev.sh bench frontpage $(ARGS)
# What the fleet's convergence (issue 15) costs a process at Fedora's size.
.PHONY: bench-converge
bench-converge:
	tools/dev.sh bench converge $(ARGS)
bench-backfill:
	tools/dev.sh bench backfill
