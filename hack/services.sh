#!/bin/sh
# Make sure the PostgreSQL and Redis the tests use are running on this
# machine, starting them when they are down. On a machine without them, say
# how to get them (and install them when running as root on Debian).
set -eu

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

install_if_missing() {
	if command -v pg_ctlcluster >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then
		return 0
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "services: installing postgresql and redis-server from Debian's packages"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
	else
		echo "services: PostgreSQL and Redis are needed; on Debian: sudo apt-get install -y postgresql redis-server" >&2
		exit 1
	fi
}

if ! pg_up; then
	install_if_missing
	echo "services: starting PostgreSQL"
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
if ! redis_up; then
	install_if_missing
	echo "services: starting Redis"
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for i in $(seq 1 30); do
	if pg_up && redis_up; then
		echo "services: PostgreSQL and Redis are up"
		exit 0
	fi
	sleep 1
done
echo "services: PostgreSQL or Redis did not come up within 30s" >&2
exit 1
