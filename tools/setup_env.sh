#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv.
#
#   bash tools/setup_env.sh [--force]
#
# Installs the pinned stack of requirements/*.txt, constrained by
# requirements/lock.txt, and sam2love in editable mode. It does nothing
# when neither those files nor setup.py changed since its last success.
# Everything it fetches or compiles is kept in a wheelhouse outside the
# repo (SAM2LOVE_CACHE, default ~/.cache/sam2love):
#   downloads/          wheels fetched from the registries
#   wheels/<torch>/     wheels compiled against that torch (mmcv's ops,
#                       sam2, deepspeed): mmcv alone takes ~14 min on 2 cores
# so a fresh clone on the same machine installs from the cache.
# SAM2LOVE_EXTRAS="deepspeed" also installs requirements/deepspeed.txt.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
CACHE=${SAM2LOVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sam2love}
DOWNLOADS="$CACHE/downloads"
REQ="$ROOT/requirements"
EXTRAS=${SAM2LOVE_EXTRAS:-}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { printf '[setup_env] %s\n' "$*"; }

fingerprint() {
  { "$PYTHON" -c 'import sys; print(sys.version)'
    echo "extras: $EXTRAS"
    cat "$REQ"/*.txt "$ROOT/setup.py"; } | sha256sum | cut -d' ' -f1
}

WANT=$(fingerprint)
if [ $FORCE = 0 ] && [ -f "$VENV/.sam2love-env" ] \
    && [ "$(cat "$VENV/.sam2love-env")" = "$WANT" ]; then
  log "up to date: $VENV"
  exit 0
fi

start=$(date +%s)
log "creating $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
mkdir -p "$DOWNLOADS"
CONSTRAINTS=()
[ -f "$REQ/lock.txt" ] && CONSTRAINTS=(-c "$REQ/lock.txt")

pip() {  # the venv's pip, without the noise of this machine's index config
  "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
# Install from the wheelhouse alone when it holds everything; otherwise
# fetch what is missing into it (files already there are reused) and
# install from it, so that what is installed is exactly what was cached.
# Bytecode is compiled on first import instead of for all of torch here.
fetch_and_install() {
  local local_only=(install --no-index --no-compile --find-links "$DOWNLOADS")
  pip "${local_only[@]}" "$@" "${CONSTRAINTS[@]}" 2>/dev/null && return
  pip download -d "$DOWNLOADS" "$@" "${CONSTRAINTS[@]}"
  pip "${local_only[@]}" "$@" "${CONSTRAINTS[@]}"
}

fetch_and_install -r "$REQ/build.txt"
log "installing torch"
fetch_and_install -r "$REQ/torch.txt"

TORCH=$("$VENV/bin/python" -c 'import sys, torch; print(f"torch{torch.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")')
WHEELS="$CACHE/wheels/$TORCH"
mkdir -p "$WHEELS"
build_wheel() {  # name==version, then VAR=value... for its build
  local spec=$1; shift
  local name=${spec%%==*} version=${spec##*==}
  if ls "$WHEELS/${name}-${version}-"*.whl >/dev/null 2>&1; then
    log "cached build: $spec"
    return
  fi
  log "building $spec against $TORCH"
  env "$@" "$VENV/bin/python" -m pip --disable-pip-version-check -q wheel \
    --no-build-isolation --no-deps --no-cache-dir -w "$WHEELS" "$spec" \
    2> >(grep -v 'is ignored: it is neither' >&2)
}
pin() { grep -E "^$1==" "$REQ/runtime.txt" | head -n1; }
build_wheel "$(pin mmcv)" MMCV_WITH_OPS=1 MAX_JOBS=2
build_wheel "$(pin sam2)" SAM2_BUILD_CUDA=0
EXTRA_REQS=()
for extra in $EXTRAS; do
  [ -f "$REQ/$extra.txt" ] || { log "unknown extra: $extra"; exit 2; }
  EXTRA_REQS+=(-r "$REQ/$extra.txt")
done
case " $EXTRAS " in *" deepspeed "*)
  build_wheel "$(grep -E '^deepspeed==' "$REQ/deepspeed.txt")" DS_BUILD_OPS=0 ;;
esac

log "installing the OpenMMLab stack, sam2, transformers, test tools"
fetch_and_install --find-links "$WHEELS" --no-build-isolation \
  -r "$REQ/runtime.txt" -r "$REQ/tests.txt" "${EXTRA_REQS[@]}"
pip install --no-build-isolation --no-deps --no-compile -e "$ROOT"

log "checking imports"
(cd "$VENV" && HF_HUB_OFFLINE=1 ./bin/python -c \
  'import mmcv._ext, mmseg.models, sam2.build_sam, transformers, torchaudio, av, sam2love')
pip check

echo "$WANT" > "$VENV/.sam2love-env"
log "done in $(( $(date +%s) - start )) s; $(du -sh "$VENV" | cut -f1) in $VENV"
