#!/usr/bin/env bash
# `make install`: the system packages the test suite needs, installed where missing.
#   redis-server  the integration tests start private Redis servers
#   chromium      the report test opens report.html in headless Chromium
# Debian/Ubuntu with apt-get: as root directly, otherwise with sudo. Where neither works, say what to
# run and fail. MEDEMBED_CHROMIUM=/path/to/chrome counts as Chromium (the tests use it).
set -uo pipefail

os_release=${MEDEMBED_OS_RELEASE:-/etc/os-release}
os_id=""
if [[ -r $os_release ]]; then
  os_id=$(. "$os_release" && echo "${ID:-}")
fi

has_chromium() {
  [[ -n ${MEDEMBED_CHROMIUM:-} ]] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
    || command -v google-chrome >/dev/null
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
if ! has_chromium; then
  if [[ $os_id == ubuntu ]]; then
    # Ubuntu's chromium packages only install the snap, whose private /tmp hides the test's report
    # file and DevTools port file from the browser.
    echo "make install: Chromium is missing. Ubuntu ships it only as a snap, which cannot open the report" \
      "test's temporary files. Install Google Chrome (the google-chrome-stable .deb) or a non-snap Chromium," \
      "or set MEDEMBED_CHROMIUM=/path/to/chromium, then run make install again." >&2
    chromium_unavailable=1
  else
    missing+=(chromium)
  fi
fi

if ((${#missing[@]} == 0)); then
  exit "${chromium_unavailable:-0}"
fi

command_line="apt-get update && apt-get install -y ${missing[*]}"
if ! command -v apt-get >/dev/null; then
  echo "make install: the tests need ${missing[*]}, and this is not a system with apt-get." \
    "Install them with your package manager (Debian: $command_line), then run make install again." >&2
  exit 1
fi
if [[ $(id -u) == 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "make install: the tests need ${missing[*]}: as root, run: $command_line; then run make install again." >&2
  exit 1
fi

echo "make install: installing ${missing[*]} with ${sudo[*]:-}${sudo:+ }apt-get ..."
if ! "${sudo[@]}" apt-get update -qq \
    || ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; then
  echo "make install: could not install ${missing[*]}. As root, run: $command_line; then run make install again." >&2
  exit 1
fi
exit "${chromium_unavailable:-0}"
