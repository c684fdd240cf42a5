#!/usr/bin/env bash
# Fetches servers the tests run that bookworm does not package in a recent enough version
# (Prometheus 3.x, VictoriaMetrics with OTLP), from Debian unstable, WITHOUT installing them:
# a private apt configuration downloads the .debs and dpkg-deb extracts them into a cache folder,
# so bookworm's libc and system packages are never touched. The binaries are static Go builds
# that need nothing newer than bookworm's glibc.
#
# The Debian mirror is taken from this machine's own apt sources; no host name is written here.
# Usage: eval "$(.ci/unstable-tools.sh)"   (prints `export NAME=path` lines)
set -euo pipefail

dest=${TELLTALE_TOOLS_DIR:-$HOME/.cache/telltale-tools}
apt_dir="$dest/apt"
mkdir -p "$apt_dir/etc" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dest/root"

mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
  echo "unstable-tools: no Debian mirror found in /etc/apt sources" >&2
  exit 1
fi

printf 'Types: deb\nURIs: %s\nSuites: unstable\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" > "$apt_dir/etc/unstable.sources"
cat > "$apt_dir/apt.conf" <<CONF
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$apt_dir/etc";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
Dir::State::status "/var/lib/dpkg/status";
APT::Sandbox::User "root";
CONF

export APT_CONFIG="$apt_dir/apt.conf"
if [ ! -x "$dest/root/usr/bin/prometheus" ] || [ ! -x "$dest/root/usr/bin/victoria-metrics" ]; then
  apt-get update -qq >&2
  (cd "$apt_dir/cache" && apt-get download -qq prometheus victoria-metrics >&2)
  for deb in "$apt_dir"/cache/*.deb; do
    dpkg-deb -x "$deb" "$dest/root"
  done
fi

echo "export PROMETHEUS3_BIN=$dest/root/usr/bin/prometheus"
echo "export VICTORIA_METRICS_BIN=$dest/root/usr/bin/victoria-metrics"
