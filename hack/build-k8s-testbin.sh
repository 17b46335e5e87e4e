#!/bin/sh
# Build the real control plane the Kubernetes integration tests run against
# (kube-apiserver, kube-controller-manager, etcd) from the Go module proxy.
#
# usage: build-k8s-testbin.sh KUBE_VERSION OUTDIR
#   -> OUTDIR/{kube-apiserver,kube-controller-manager,etcd}
#
# k8s.io/kubernetes and etcd's server module carry replace directives, so
# `go install pkg@version` refuses them; a throwaway wrapper module requires
# each and replaces every staging module with its published v0.MINOR.PATCH.
# The result is cached by version: OUTDIR only appears through the final mv,
# so an interrupted build leaves nothing that looks finished.
set -eu
KV=$1; OUT=$2
[ -x "$OUT/etcd" ] && [ -x "$OUT/kube-apiserver" ] && [ -x "$OUT/kube-controller-manager" ] && exit 0
export GOWORK=off GOFLAGS=-modcacherw
# The binaries are cached by version, so their build cache is not worth keeping
# (it is ~3.7 GB): build with a throwaway one, unless KEEP_GOCACHE=1.
# Work beside OUT (not in a possibly RAM-backed /tmp); one trap removes the
# wrapper modules, the throwaway cache and the unfinished output. dash runs no
# EXIT trap when killed by a signal, hence the second trap.
mkdir -p "$(dirname "$OUT")"
W=$(mktemp -d "$OUT.build.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 1' INT TERM HUP
if [ "${KEEP_GOCACHE:-}" != 1 ]; then
	export GOCACHE="$W/gocache"
fi
PART="$W/out"
mkdir -p "$W/k8s" "$W/etcd" "$PART"
echo "building kube-apiserver, kube-controller-manager and etcd for Kubernetes v$KV into $OUT (several minutes the first time)"
KMOD=$(go mod download -json "k8s.io/kubernetes@v$KV" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
# The etcd the apiserver is built against.
EV=$(awk '$1 == "go.etcd.io/etcd/client/v3" {print $2}' "$KMOD")
cd "$W/k8s"
{ printf 'module k8stestbin\n\ngo 1.26\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KV"
  # From the require entries at v0.0.0, not the replace block: that also
  # names sample modules that are not published.
  awk -v v="v0.${KV#1.}" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {printf "\t%s => %s %s\n", $1, $1, v}' "$KMOD"
  echo ')'; } > go.mod
go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KV" "k8s.io/kubernetes/cmd/kube-controller-manager@v$KV"
MAJ=${KV%%.*}; MIN=${KV#*.}; MIN=${MIN%%.*}; LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	LD="$LD -X $p.gitVersion=v$KV -X $p.gitMajor=$MAJ -X $p.gitMinor=$MIN -X $p.gitTreeState=clean"
done
go build -trimpath -ldflags="$LD" -o "$PART/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
cd "$W/etcd"
printf 'module etcdtestbin\n\ngo 1.26\n' > go.mod
# Pinned: a bare go get would move etcd (and grpc) away from what k8s pins.
go get "go.etcd.io/etcd/server/v3@$EV"
go build -trimpath -ldflags="-s -w" -o "$PART/etcd" go.etcd.io/etcd/server/v3
rm -rf "$OUT"; mv "$PART" "$OUT"
echo "built $(ls "$OUT" | tr '\n' ' ')in $OUT"
