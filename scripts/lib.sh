# Shared helpers for the test and bench scripts. Source it; do not run it.

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "no free port found" >&2
	return 1
}

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_redis installs Debian's redis-server when it is missing.
ensure_redis() {
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		return 0
	fi
	echo "== installing redis-server"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
	# The package starts a system-wide server on 6379; the tests use their own.
	as_root service redis-server stop >/dev/null 2>&1 || true
}

# ensure_chromium installs Debian's chromium when it is missing, and exports
# SPENDGUARD_CHROMIUM (the binary) for the browser test of `spendguard serve`.
ensure_chromium() {
	if ! command -v chromium >/dev/null; then
		echo "== installing chromium"
		as_root apt-get update -qq
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
	fi
	SPENDGUARD_CHROMIUM="$(command -v chromium)"
	export SPENDGUARD_CHROMIUM
	echo "== chromium: $SPENDGUARD_CHROMIUM ($("$SPENDGUARD_CHROMIUM" --version 2>/dev/null || true))"
}

# start_redis starts a throw-away redis-server (no persistence) on a free loopback
# port, exports SPENDGUARD_REDIS_ADDR and SPENDGUARD_REDIS_SERVER (the binary, so that
# tests can restart it) and registers it for stop_services.
start_redis() {
	ensure_redis
	local port dir up=
	# A free port can be taken between free_port and the server's bind: try three.
	for _ in 1 2 3; do
		port=$(free_port)
		dir=$(mktemp -d)
		redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
			--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
		for _ in $(seq 1 100); do
			if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then up=1; break; fi
			sleep 0.1
		done
		[ -n "$up" ] && break
		echo "== redis-server on port $port did not answer; its log:" >&2
		cat "$dir/redis.log" >&2 || true
	done
	[ -n "$up" ] || { echo "== redis-server would not start" >&2; return 1; }
	export SPENDGUARD_REDIS_ADDR="127.0.0.1:$port"
	export SPENDGUARD_REDIS_SERVER="$(command -v redis-server)"
	REDIS_PIDFILE="$dir/redis.pid"
	echo "== redis-server on $SPENDGUARD_REDIS_ADDR"
}

# http_ok PORT PATH: a GET on 127.0.0.1:PORT answered 200, through bash's /dev/tcp (no
# curl needed).
http_ok() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$2" "$1" >&3
		IFS= read -r -t 2 status <&3 || exit 1
		case "$status" in *" 200 "*) exit 0 ;; *) exit 1 ;; esac
	) 2>/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_cluster_nodes starts six empty cluster-enabled redis-servers, each from a config
# file of its own in REDIS_CLUSTER_DIR, on REDIS_CLUSTER_PORTS; it fails when one does
# not answer. A node also listens on its port + 10000 (the cluster bus), so both are
# picked below the kernel's ephemeral range, where no outgoing connection can hold them.
start_cluster_nodes() {
	local low span p dir ports=()
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	span=$((low - 20000))
	[ "$span" -ge 1000 ] || span=1000
	while [ "${#ports[@]}" -lt 6 ]; do
		p=$((10000 + RANDOM % span))
		if port_open "$p" || port_open $((p + 10000)); then continue; fi
		case " ${ports[*]:-} " in *" $p "* | *" $((p + 10000)) "* | *" $((p - 10000)) "*) continue ;; esac
		ports+=("$p")
	done
	REDIS_CLUSTER_PORTS=("${ports[@]}")
	REDIS_CLUSTER_DIR=$(mktemp -d)
	for p in "${ports[@]}"; do
		dir="$REDIS_CLUSTER_DIR/$p"
		mkdir -p "$dir"
		# node-timeout 1s: a dead master is failed over in seconds, not the default 15s.
		# Full coverage is not required, so that the slots of the other masters keep
		# serving while one is failed over, as a fleet would want.
		cat >"$dir/redis.conf" <<-EOF
			port $p
			bind 127.0.0.1
			cluster-enabled yes
			cluster-config-file nodes.conf
			cluster-node-timeout 1000
			cluster-require-full-coverage no
			save ""
			appendonly no
			dir $dir
			daemonize yes
			pidfile $dir/redis.pid
			logfile $dir/redis.log
		EOF
		redis-server "$dir/redis.conf" || return 1
	done
	for p in "${ports[@]}"; do
		for _ in $(seq 1 50); do
			if redis-cli -p "$p" ping 2>/dev/null | grep -q PONG; then continue 2; fi
			sleep 0.1
		done
		return 1
	done
}

# stop_cluster_nodes stops the nodes of REDIS_CLUSTER_DIR, by their pid files (a test
# may have killed a node and started it again).
stop_cluster_nodes() {
	local f
	for f in "${REDIS_CLUSTER_DIR:-/nonexistent}"/*/redis.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
}

# Every cluster start_redis_cluster started, for stop_services.
REDIS_CLUSTER_DIRS=()

# start_redis_cluster [VAR] starts a Redis Cluster of 3 masters with one replica each
# (six throw-away redis-servers, no persistence) on free loopback ports, exports VAR
# (default SPENDGUARD_REDIS_CLUSTER_ADDRS: the six host:port, comma-separated) and
# registers the nodes for stop_services. Each node runs from a config file of its own
# (INFO server names it), so that a test that kills a node can start it again, and it
# rejoins.
start_redis_cluster() {
	local var=${1:-SPENDGUARD_REDIS_CLUSTER_ADDRS}
	ensure_redis
	local attempt
	for attempt in 1 2 3; do
		if start_cluster_nodes; then break; fi
		echo "== a cluster node did not start (attempt $attempt), trying other ports:" >&2
		tail -n 3 "$REDIS_CLUSTER_DIR"/*/redis.log >&2 || true
		stop_cluster_nodes
		REDIS_CLUSTER_DIR=
		[ "$attempt" = 3 ] && return 1
	done
	local p addrs=()
	for p in "${REDIS_CLUSTER_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1 || {
		cat "$REDIS_CLUSTER_DIR/create.log" >&2
		return 1
	}
	# Ready when every node sees the cluster ok and every replica is in sync.
	local ok
	for i in $(seq 1 300); do
		ok=1
		for p in "${REDIS_CLUSTER_PORTS[@]}"; do
			if ! redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok'; then ok=; break; fi
			if redis-cli -p "$p" info replication | grep -q '^role:slave' &&
				! redis-cli -p "$p" info replication | grep -q '^master_link_status:up'; then ok=; break; fi
		done
		[ -n "$ok" ] && break
		sleep 0.1
	done
	if [ -z "$ok" ]; then
		echo "Redis Cluster not ready after 30s" >&2
		return 1
	fi
	REDIS_CLUSTER_DIRS+=("$REDIS_CLUSTER_DIR")
	printf -v "$var" '%s' "$(IFS=,; echo "${addrs[*]}")"
	export "${var?}"
	echo "== Redis Cluster (3 masters, 3 replicas) on ${!var} ($var)"
}

# ensure_prometheus installs Debian's prometheus when it is missing.
ensure_prometheus() {
	if command -v prometheus >/dev/null; then
		return 0
	fi
	echo "== installing prometheus"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	# The package starts a system-wide server on 9090; the tests use their own.
	as_root service prometheus stop >/dev/null 2>&1 || true
}

# start_prometheus TARGET starts a throw-away Prometheus on a free loopback port that
# scrapes TARGET (host:port, path /metrics) every second, with the scraped `job` and
# `instance` labels kept (honor_labels: an OpenTelemetry Collector's Prometheus exporter
# sets job to the service name). It exports SPENDGUARD_PROMETHEUS_URL and registers the
# server for stop_services.
start_prometheus() {
	ensure_prometheus
	local port dir
	port=$(free_port)
	dir=$(mktemp -d)
	cat >"$dir/prometheus.yml" <<-EOF
		global:
		  scrape_interval: 1s
		  scrape_timeout: 1s
		scrape_configs:
		  - job_name: otel-collector
		    honor_labels: true
		    static_configs:
		      - targets: ['$1']
	EOF
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
	PROMETHEUS_PID=$!
	PROMETHEUS_LOG="$dir/prometheus.log"
	for _ in $(seq 1 300); do
		if ! kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
			echo "Prometheus exited while starting:" >&2
			cat "$PROMETHEUS_LOG" >&2
			return 1
		fi
		if http_ok "$port" /-/ready; then
			export SPENDGUARD_PROMETHEUS_URL="http://127.0.0.1:$port"
			echo "== Prometheus (pid $PROMETHEUS_PID) on $SPENDGUARD_PROMETHEUS_URL, scraping $1"
			return 0
		fi
		sleep 0.1
	done
	echo "Prometheus not ready after 30s:" >&2
	cat "$PROMETHEUS_LOG" >&2
	return 1
}

stop_services() {
	if [ -n "${REDIS_PIDFILE:-}" ] && [ -f "$REDIS_PIDFILE" ]; then
		kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
	fi
	local d
	for d in "${REDIS_CLUSTER_DIRS[@]}"; do
		REDIS_CLUSTER_DIR=$d stop_cluster_nodes
	done
	if [ -n "${PROMETHEUS_PID:-}" ]; then
		kill "$PROMETHEUS_PID" 2>/dev/null || true
		wait "$PROMETHEUS_PID" 2>/dev/null || true
	fi
	if [ -n "${JAEGER_PID:-}" ]; then
		kill "$JAEGER_PID" 2>/dev/null || true
		wait "$JAEGER_PID" 2>/dev/null || true
	fi
}
