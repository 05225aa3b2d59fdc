#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv.
#
#   [SAM2LOVE_EXTRAS="web deepspeed"] bash tools/setup_env.sh [--force] [--plan]
#
# Installs the pinned stack of requirements/*.txt, constrained by
# requirements/lock.txt, and sam2love in editable mode. It does nothing
# when neither those files nor setup.py changed since its last success.
#
# Extras: SAM2LOVE_EXTRAS="deepspeed" also installs requirements/deepspeed.txt,
# "web" requirements/web.txt. An extra is added to the existing environment
# (nothing is rebuilt), and the extras installed are recorded in
# .venv/.sam2love-extras and kept: a run without SAM2LOVE_EXTRAS
# (tools/run_tests.sh, tools/quickstart.sh) leaves them in place. To drop
# an extra, delete .venv.
#
# The environment is rebuilt (its extras reinstalled) only when the base
# files change (requirements/{build,torch,runtime,tests,lock}.txt,
# setup.py, the Python version) or with --force. A .venv that a running
# process uses (its interpreter or a library loaded from it) is never
# deleted without --force: the script names the processes and exits 3.
# --plan prints what would be done, and does nothing.
#
# Everything it fetches or compiles is kept in a wheelhouse outside the
# repo (SAM2LOVE_CACHE, default ~/.cache/sam2love):
#   downloads/          wheels fetched from the registries
#   wheels/<torch>/     wheels compiled against that torch (mmcv's ops,
#                       sam2, deepspeed): mmcv alone takes ~14 min on 2 cores
# so a fresh clone on the same machine installs from the cache.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
CACHE=${SAM2LOVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sam2love}
DOWNLOADS="$CACHE/downloads"
REQ="$ROOT/requirements"
BASE_REQS=(build torch runtime tests lock)
STATE="$VENV/.sam2love-env"            # fingerprint of the base files
EXTRAS_STATE="$VENV/.sam2love-extras"  # "<extra> <sha256 of its file>" lines
BYTECODE_STATE="$VENV/.sam2love-bytecode"  # what the project imports is compiled
FORCE=0
PLAN=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --plan) PLAN=1 ;;
    *) echo "usage: bash tools/setup_env.sh [--force] [--plan]" >&2; exit 2 ;;
  esac
done

log() { printf '[setup_env] %s\n' "$*"; }

is_base() { case " ${BASE_REQS[*]} " in *" $1 "*) return 0 ;; esac; return 1; }
known_extras() {
  local f name
  for f in "$REQ"/*.txt; do
    name=$(basename "$f" .txt)
    is_base "$name" || printf '%s\n' "$name"
  done
}
file_hash() { sha256sum < "$1" | cut -d' ' -f1; }

fingerprint() {
  { "$PYTHON" -c 'import sys; print(sys.version)'
    local name
    for name in "${BASE_REQS[@]}"; do cat "$REQ/$name.txt"; done
    cat "$ROOT/setup.py"; } | sha256sum | cut -d' ' -f1
}

# Before extras were recorded, .sam2love-env held one fingerprint of every
# requirements file and of the extras asked for: such an environment is
# taken over as it is (its extras recorded) rather than rebuilt.
legacy_fingerprint() {
  { "$PYTHON" -c 'import sys; print(sys.version)'
    echo "extras: $1"
    cat "$REQ"/*.txt "$ROOT/setup.py"; } | sha256sum | cut -d' ' -f1
}
# Sets HAVE (the recorded fingerprint) and HAVE_EXTRAS ("<extra> <hash>"
# lines) from the environment's files, a legacy state translated.
read_state() {
  HAVE="" HAVE_EXTRAS=""
  [ -f "$STATE" ] || return 0
  HAVE=$(cat "$STATE")
  if [ -f "$EXTRAS_STATE" ]; then
    HAVE_EXTRAS=$(cat "$EXTRAS_STATE")
    return 0
  fi
  local candidates=("" "${SAM2LOVE_EXTRAS:-}") a b extras extra
  for a in $(known_extras); do
    candidates+=("$a")
    for b in $(known_extras); do [ "$a" = "$b" ] || candidates+=("$a $b"); done
  done
  for extras in "${candidates[@]}"; do
    if [ "$(legacy_fingerprint "$extras")" = "$HAVE" ]; then
      log "taking over $VENV as it is (installed with extras: ${extras:-none})"
      HAVE=$(fingerprint)
      for extra in $extras; do
        HAVE_EXTRAS+="$extra $(file_hash "$REQ/$extra.txt")"$'\n'
      done
      if [ $PLAN = 0 ]; then
        echo "$HAVE" > "$STATE"
        printf '%s' "$HAVE_EXTRAS" > "$EXTRAS_STATE"
      fi
      return 0
    fi
  done
}

# "<pid> <command>" of the processes running from $VENV: their interpreter
# (argv[0]) is under it, or they have a file of it mapped (a library).
venv_users() {
  "$PYTHON" - "$VENV" <<'EOF'
import os
import sys

roots = {os.path.abspath(sys.argv[1]) + os.sep,
         os.path.realpath(sys.argv[1]) + os.sep}
skip = {os.getpid(), os.getppid()}
for pid in filter(str.isdigit, os.listdir('/proc')):
    if int(pid) in skip:
        continue
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            argv = [a.decode(errors='replace')
                    for a in f.read().split(b'\0') if a]
        cwd = os.readlink(f'/proc/{pid}/cwd')
        with open(f'/proc/{pid}/maps') as f:
            maps = f.read()
    except OSError:  # gone, or not ours to read
        continue
    exe = os.path.normpath(os.path.join(cwd, argv[0])) if argv else ''
    if exe.startswith(tuple(roots)) or any(r in maps for r in roots):
        print(pid, ' '.join(argv)[:160])
EOF
}

for extra in ${SAM2LOVE_EXTRAS:-}; do
  if is_base "$extra" || [ ! -f "$REQ/$extra.txt" ]; then
    log "unknown extra: $extra (known: $(known_extras | tr '\n' ' '))"
    exit 2
  fi
done
read_state
# the extras recorded, then those asked for: the union, each once
WANTED=()
for extra in $(printf '%s\n' "$HAVE_EXTRAS" | cut -d' ' -f1) \
    ${SAM2LOVE_EXTRAS:-}; do
  if [ ! -f "$REQ/$extra.txt" ]; then
    log "the $extra extra is installed but requirements/$extra.txt is gone: not updated"
    continue
  fi
  case " ${WANTED[*]:-} " in *" $extra "*) ;; *) WANTED+=("$extra") ;; esac
done

WANT=$(fingerprint)
REBUILD=""
if [ $FORCE = 1 ]; then
  REBUILD="--force"
elif [ ! -x "$VENV/bin/python" ] || [ -z "$HAVE" ]; then
  REBUILD="no environment yet"
elif [ "$HAVE" != "$WANT" ]; then
  REBUILD="the base requirements, setup.py or Python changed"
fi
TO_INSTALL=()
for extra in ${WANTED[@]+"${WANTED[@]}"}; do
  if [ -n "$REBUILD" ] || ! printf '%s\n' "$HAVE_EXTRAS" | grep -qxF \
      "$extra $(file_hash "$REQ/$extra.txt")"; then
    TO_INSTALL+=("$extra")
  fi
done

# The install skips compiling bytecode (--no-compile: all of torch), and
# where PYTHONDONTWRITEBYTECODE is set (this machine sets it) no process
# ever writes it: each one then recompiled what it imports, ~20 of the ~30 s
# a tool took to start. Compile once what the project imports.
warm_bytecode() {
  log "compiling the bytecode of what sam2love imports"
  (cd "$VENV" && env -u PYTHONDONTWRITEBYTECODE HF_HUB_OFFLINE=1 \
    ./bin/python - <<'EOF'
import importlib
for name in ('sam2love.models', 'sam2love.datasets', 'sam2love.apis',
             'sam2love.evaluation', 'sam2love.visualization',
             'sam2love.engine', 'mmengine.runner', 'mmseg.apis',
             'transformers.models.vit.modeling_vit',
             'transformers.models.roberta.modeling_roberta',
             'transformers.models.clip.modeling_clip',
             'transformers.models.bert.modeling_bert', 'pytest'):
    importlib.import_module(name)
for name in ('nicegui', 'playwright.sync_api', 'deepspeed'):
    try:  # the extras, when installed
        importlib.import_module(name)
    except ImportError:
        pass
EOF
  ) && : > "$BYTECODE_STATE"
}

if [ -z "$REBUILD" ] && [ ${#TO_INSTALL[@]} = 0 ]; then
  [ $PLAN = 1 ] || [ -f "$BYTECODE_STATE" ] || warm_bytecode
  log "up to date: $VENV (extras: ${WANTED[*]:-none})"
  exit 0
fi
USERS=""
[ -n "$REBUILD" ] && [ -d "$VENV" ] && USERS=$(venv_users)
if [ -n "$USERS" ] && [ $FORCE = 0 ]; then
  log "$VENV needs rebuilding ($REBUILD), but these processes run from it:"
  printf '%s\n' "$USERS" | sed 's/^/  /'
  log "stop them and rerun (or rerun with --force to delete it anyway)"
  exit 3
fi
if [ $PLAN = 1 ]; then
  [ -n "$REBUILD" ] && log "plan: rebuild $VENV ($REBUILD)"
  [ -n "$USERS" ] && log "plan: delete it under processes $(printf '%s\n' "$USERS" | cut -d' ' -f1 | tr '\n' ' ')"
  [ ${#TO_INSTALL[@]} -gt 0 ] && log "plan: install extras: ${TO_INSTALL[*]}"
  exit 0
fi
if [ -n "$USERS" ]; then
  log "--force: deleting $VENV under these processes:"
  printf '%s\n' "$USERS" | sed 's/^/  /'
fi

start=$(date +%s)
if [ -n "$REBUILD" ]; then
  log "creating $VENV ($REBUILD)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi
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

if [ -n "$REBUILD" ]; then
  fetch_and_install -r "$REQ/build.txt"
  log "installing torch"
  fetch_and_install -r "$REQ/torch.txt"
fi

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

if [ -n "$REBUILD" ]; then
  build_wheel "$(pin mmcv)" MMCV_WITH_OPS=1 MAX_JOBS=2
  build_wheel "$(pin sam2)" SAM2_BUILD_CUDA=0
  log "installing the OpenMMLab stack, sam2, transformers, test tools"
  fetch_and_install --find-links "$WHEELS" --no-build-isolation \
    -r "$REQ/runtime.txt" -r "$REQ/tests.txt"
  pip install --no-build-isolation --no-deps --no-compile -e "$ROOT"
  log "checking imports"
  (cd "$VENV" && HF_HUB_OFFLINE=1 ./bin/python -c \
    'import mmcv._ext, mmseg.models, sam2.build_sam, transformers, torchaudio, av, sam2love')
  pip check
  echo "$WANT" > "$STATE"
  : > "$EXTRAS_STATE"
fi

for extra in ${TO_INSTALL[@]+"${TO_INSTALL[@]}"}; do
  log "installing the $extra extra (requirements/$extra.txt)"
  if [ "$extra" = deepspeed ]; then
    build_wheel "$(grep -E '^deepspeed==' "$REQ/deepspeed.txt")" DS_BUILD_OPS=0
  fi
  fetch_and_install --find-links "$WHEELS" --no-build-isolation \
    -r "$REQ/$extra.txt"
  pip check
  { grep -v "^$extra " "$EXTRAS_STATE" 2>/dev/null || true; \
    echo "$extra $(file_hash "$REQ/$extra.txt")"; } > "$EXTRAS_STATE.tmp"
  mv "$EXTRAS_STATE.tmp" "$EXTRAS_STATE"
done

warm_bytecode
log "done in $(( $(date +%s) - start )) s; extras: ${WANTED[*]:-none}; $(du -sh "$VENV" | cut -f1) in $VENV"
