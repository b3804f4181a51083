#!/usr/bin/env bash
# Runs the Autobahn testsuite (wstest, from the crossbario/autobahn-testsuite
# Docker image) against this module's server and client, then checks that
# every case passed (OK or INFORMATIONAL) with autobahn-report.
#
# Usage: autobahn/run.sh [all|server|client]      (default: all)
#
# Needs Go and Docker on Linux: the container uses the host's network, so
# that wstest reaches the server at 127.0.0.1:9002 and the client reaches
# wstest at 127.0.0.1:9001. Reports, with wstest's HTML pages, are written to
# autobahn/reports/servers and autobahn/reports/clients.
#
# The configs in autobahn/config run every case ("*") and exclude none.
# Section 9 sends messages of up to 16 MiB and 12.x/13.x make 1000 round
# trips per case: a full run takes several minutes. To run fewer cases, edit
# the "cases" lists, or pass -cases to autobahn-client.
#
# AUTOBAHN_IMAGE overrides the image, e.g. to pin a version.
set -euo pipefail

mode=${1:-all}
case $mode in
all | server | client) ;;
*)
	echo "usage: $0 [all|server|client]" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")"
image=${AUTOBAHN_IMAGE:-crossbario/autobahn-testsuite}
bin=$(mktemp -d)
server_pid=
container=

cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	if [ -n "$container" ]; then docker stop "$container" >/dev/null 2>&1 || true; fi
	rm -rf "$bin"
}
trap cleanup EXIT

# wait_port waits up to 30 s for something to listen on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing listens on port $1" >&2
	return 1
}

echo "== building"
go build -o "$bin/" ./cmd/autobahn-server ./cmd/autobahn-client ./cmd/autobahn-report
docker pull "$image" >/dev/null

rm -rf reports
mkdir -p reports/servers reports/clients

if [ "$mode" != client ]; then
	echo "== testing the server (wstest -m fuzzingclient)"
	"$bin/autobahn-server" -addr 127.0.0.1:9002 &
	server_pid=$!
	wait_port 9002
	docker run --rm --network host \
		-v "$PWD/config:/config:ro" -v "$PWD/reports:/reports" \
		"$image" wstest -m fuzzingclient -s /config/fuzzingclient.json
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
fi

if [ "$mode" != server ]; then
	echo "== testing the client (wstest -m fuzzingserver)"
	container=twoway-fuzzingserver-$$
	docker run -d --rm --name "$container" --network host \
		-v "$PWD/config:/config:ro" -v "$PWD/reports:/reports" \
		"$image" wstest -m fuzzingserver -s /config/fuzzingserver.json >/dev/null
	wait_port 9001
	"$bin/autobahn-client" -url ws://127.0.0.1:9001 -agent twoway
	docker stop "$container" >/dev/null
	container=
fi

echo "== checking the reports"
"$bin/autobahn-report" reports
