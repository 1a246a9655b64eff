#!/usr/bin/env bash
# Builds the Lambda package of trailbell: the cmd/trailbell binary named bootstrap for the
# provided.al2023 runtime, for arm64 and amd64, and a zip of each for upload.
#   scripts/build-lambda.sh            → build/lambda/{arm64,amd64}/bootstrap and build/lambda/trailbell-{arm64,amd64}.zip
#   scripts/build-lambda.sh arm64      → one architecture
#   OUT=dir scripts/build-lambda.sh    → another output directory
# lambda.norpc drops the legacy RPC mode of aws-lambda-go, which provided.al2023 never uses.
# The zips are written by scripts/lambdazip: nothing but Go is needed. VERSION and COMMIT (set
# by the Makefile, else from git) are what `bootstrap --version` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/lambda}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
mkdir -p "$out"
go build -o "$out/.lambdazip" ./scripts/lambdazip
archs=("$@")
[ ${#archs[@]} -eq 0 ] && archs=(arm64 amd64)
for arch in "${archs[@]}"; do
	case $arch in arm64 | amd64) ;; *) echo "unknown architecture $arch (want arm64 or amd64)" >&2; exit 2 ;; esac
	mkdir -p "$out/$arch"
	CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -tags lambda.norpc \
		-ldflags="-s -w -X main.version=$version -X main.commit=$commit" \
		-o "$out/$arch/bootstrap" ./cmd/trailbell
	"$out/.lambdazip" -o "$out/trailbell-$arch.zip" "$out/$arch/bootstrap"
	echo "$out/trailbell-$arch.zip ($(wc -c <"$out/$arch/bootstrap") bytes bootstrap)"
done
rm -f "$out/.lambdazip"
