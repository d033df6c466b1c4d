#!/bin/sh
# Writes the broker's password file and ACL into the `mosquitto-auth` volume.
#
# Run by the one-shot compose service `mosquitto-auth` (image eclipse-mosquitto:2, as
# root) before the broker starts, at every `docker compose up`, so the files always
# match .env and deploy/docker/mosquitto/acl. Nothing secret is committed: the service
# passwords come from the environment (.env), device passwords from an optional,
# git-ignored deploy/docker/mosquitto/devices.passwd holding HASHED lines:
#
#   touch deploy/docker/mosquitto/devices.passwd
#   mosquitto_passwd -b deploy/docker/mosquitto/devices.passwd pow-kessello-01 'its-password'
#   # without a local mosquitto_passwd, the image's:
#   docker run --rm -v "$PWD/deploy/docker/mosquitto:/w" eclipse-mosquitto:2 \
#       mosquitto_passwd -b /w/devices.passwd pow-kessello-01 'its-password'
#
# Environment:
#   MQTT_INGEST_PASSWORD, MQTT_API_PASSWORD, MQTT_HEALTHCHECK_PASSWORD, MQTT_POLLER_PASSWORD  required
#   MQTT_SIMULATOR_PASSWORD   optional; empty: the `simulator` user cannot log in
#   AUTH_SRC (default /citysense), AUTH_OUT (default /mosquitto/auth)  for tests
set -eu

SRC=${AUTH_SRC:-/citysense}
OUT=${AUTH_OUT:-/mosquitto/auth}
RESERVED="ingest api healthcheck simulator poller"

fail() { echo "mosquitto-auth: $*" >&2; exit 1; }

: "${MQTT_INGEST_PASSWORD:?set MQTT_INGEST_PASSWORD in .env}"
: "${MQTT_API_PASSWORD:?set MQTT_API_PASSWORD in .env}"
: "${MQTT_HEALTHCHECK_PASSWORD:?set MQTT_HEALTHCHECK_PASSWORD in .env}"
: "${MQTT_POLLER_PASSWORD:?set MQTT_POLLER_PASSWORD in .env}"
[ -f "$SRC/acl" ] || fail "no ACL at $SRC/acl"
mkdir -p "$OUT"

# Written next to the targets and renamed, so the broker never reads a half-written file.
tmp_pw="$OUT/.passwd.tmp"
tmp_acl="$OUT/.acl.tmp"
rm -f "$tmp_pw" "$tmp_acl"
: >"$tmp_pw"
chmod 0600 "$tmp_pw"

add_user() {  # name password — mosquitto_passwd reads the password twice from stdin (no `ps` leak)
    printf '%s\n%s\n' "$2" "$2" | mosquitto_passwd "$tmp_pw" "$1" >/dev/null \
        || fail "mosquitto_passwd failed for user $1"
}
add_user ingest "$MQTT_INGEST_PASSWORD"
add_user api "$MQTT_API_PASSWORD"
add_user healthcheck "$MQTT_HEALTHCHECK_PASSWORD"
add_user poller "$MQTT_POLLER_PASSWORD"
if [ -n "${MQTT_SIMULATOR_PASSWORD:-}" ]; then
    add_user simulator "$MQTT_SIMULATOR_PASSWORD"
fi

devices=0
if [ -f "$SRC/devices.passwd" ]; then
    # Only hashed lines (mosquitto_passwd output, $6$ or $7$); comments and blanks skipped.
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in ''|'#'*) continue ;; esac
        name=${line%%:*}
        hash=${line#*:}
        [ "$name" != "$line" ] && [ -n "$name" ] || fail "devices.passwd: not user:hash: $name…"
        case "$hash" in '$6$'*|'$7$'*) ;; *) fail "devices.passwd: the line for $name is not hashed (use mosquitto_passwd)" ;; esac
        for r in $RESERVED; do
            [ "$name" != "$r" ] || fail "devices.passwd: $name is a service user name"
        done
        printf '%s\n' "$line" >>"$tmp_pw"
        devices=$((devices + 1))
    done <"$SRC/devices.passwd"
fi

cp "$SRC/acl" "$tmp_acl"
chmod 0600 "$tmp_acl"
# The broker drops root for the `mosquitto` user; it must own what it reads.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
    chown mosquitto:mosquitto "$tmp_pw" "$tmp_acl"
fi
mv -f "$tmp_pw" "$OUT/passwd"
mv -f "$tmp_acl" "$OUT/acl"
echo "mosquitto-auth: wrote $OUT/passwd (service users + $devices device(s)) and $OUT/acl"
