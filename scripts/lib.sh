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

# start_redis starts a throw-away redis-server (no persistence) on a free loopback
# port, exports SPENDGUARD_REDIS_ADDR and SPENDGUARD_REDIS_SERVER (the binary, so that
# tests can restart it) and registers it for stop_services.
start_redis() {
	ensure_redis
	local port dir
	port=$(free_port)
	dir=$(mktemp -d)
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
	for _ in $(seq 1 100); do
		if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then break; fi
		sleep 0.1
	done
	redis-cli -p "$port" ping | grep -q PONG
	export SPENDGUARD_REDIS_ADDR="127.0.0.1:$port"
	export SPENDGUARD_REDIS_SERVER="$(command -v redis-server)"
	REDIS_PIDFILE="$dir/redis.pid"
	echo "== redis-server on $SPENDGUARD_REDIS_ADDR"
}

stop_services() {
	if [ -n "${REDIS_PIDFILE:-}" ] && [ -f "$REDIS_PIDFILE" ]; then
		kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null || true
	fi
	if [ -n "${JAEGER_PID:-}" ]; then
		kill "$JAEGER_PID" 2>/dev/null || true
		wait "$JAEGER_PID" 2>/dev/null || true
	fi
}
