# mdocgate — make targets. `make test` is what CI runs (.ci/run).
GO ?= go
FUZZTIME ?= 20s

IMAGE ?= mdocgate:dev

.PHONY: test vet lint fuzz bench demo docker

# The real components the tests use are installed and started here (CI runs as root):
# pcscd with vpcd for the PC/SC lanes, Debian's Chromium for the dashboard test,
# Mosquitto for the MQTT actuator.
test: vet
	./.ci/pcscd.sh
	./.ci/chromium.sh
	./.ci/mosquitto.sh
	./.ci/dbus.sh
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

lint: vet
	test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Runs every fuzz target for FUZZTIME each; crashers land in the package's testdata/fuzz.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

demo:
	$(GO) run ./cmd/mdocgate demo

# The container image (deploy/Dockerfile) where a docker engine answers; elsewhere it
# says so and succeeds.
docker:
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
	  docker build -f deploy/Dockerfile -t $(IMAGE) \
	    --build-arg VERSION="$$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
	    --build-arg COMMIT="$$(git rev-parse HEAD 2>/dev/null || echo unknown)" . ; \
	else \
	  echo "make docker: skipped: no docker engine answers here (docker info failed)"; \
	fi
