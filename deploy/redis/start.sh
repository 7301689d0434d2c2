#!/bin/sh
# Starts Redis with its passwords read from secret files (Docker secrets, a Kubernetes Secret
# volume), so no password is on a command line, in an image or in a committed file:
#   REDIS_PASSWORD_FILE          the default user's password (the encoders' cache)
#   REDIS_RESULTS_PASSWORD_FILE  optional: user `results`, allowed only XADD on medembed:results
#                                (the evaluator's results stream); it cannot read or write vectors
#   REDIS_AUTH_CONF              where the generated config goes (a tmpfs; default /tmp/redis-auth.conf)
# Arguments are redis-server's: `start.sh /usr/local/etc/redis/redis.conf [--tls-port ...]`.
set -eu
umask 077
conf="${REDIS_AUTH_CONF:-/tmp/redis-auth.conf}"

read_password() {
  password=$(head -n 1 "$1")
  case "$password" in
    "" | *[[:space:]]* | *\"* | *\'* | *\\*)
      echo "redis start.sh: $1 must hold one password without spaces or quotes" >&2
      exit 2 ;;
  esac
  printf '%s' "$password"
}

{
  printf 'requirepass %s\n' "$(read_password "$REDIS_PASSWORD_FILE")"
  if [ -n "${REDIS_RESULTS_PASSWORD_FILE:-}" ]; then
    printf 'user results on >%s ~medembed:results -@all +xadd +ping +hello +auth\n' \
      "$(read_password "$REDIS_RESULTS_PASSWORD_FILE")"
  fi
} > "$conf"
exec redis-server "$@" --include "$conf"
