#!/usr/bin/env bash
# The tests run against real programs: a CNCF distribution registry, skopeo, umoci, GNU tar, zstd, openssl,
# htpasswd and curl. Install from Debian's packages whatever is missing (root or sudo); a no-op when all are there.
set -euo pipefail
declare -A package_of=(
  [docker-registry]=docker-registry [skopeo]=skopeo [umoci]=umoci [htpasswd]=apache2-utils
  [zstd]=zstd [openssl]=openssl [curl]=curl [tar]=tar [gzip]=gzip [unzip]=unzip
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
# The benchmarks read peak RSS from GNU time (`command -v time` finds the shell's keyword instead).
[ -x /usr/bin/time ] || missing+=(time)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing test tools: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then as_root=(); elif command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
  echo "missing test tools and no root: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
