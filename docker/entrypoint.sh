#!/bin/sh
# The muxi container's entrypoint (docs/container.md).
#
#   (no arguments), serve [ARGS], -ARGS   muxi serve on $MUXI_SERVE_HOST:$MUXI_SERVE_PORT
#                                         with ARGS added (e.g. --rate 5)
#   anything else                         run it as is (muxi keys list, sh, ...)
#
# Before that, in every case:
# 1. provider keys and MUXI_ADMIN_KEY come from the environment, from NAME_FILE
#    (a file holding the value), or from a mounted secret $MUXI_SECRETS_DIR/NAME
#    (or its lower-case name, as compose names secrets); MUXI_SECRET_VARS adds
#    more names (say, a token the formation's ${VAR}s use);
# 2. the data folder ($MUXI_HOME) is created if needed and must be writable.
#
# The paths are environment variables (set in the image) so the test suite runs
# this same script in a plain venv with the paths in a temp dir.
set -eu

MUXI_HOME=${MUXI_HOME:-/data}
MUXI_SECRETS_DIR=${MUXI_SECRETS_DIR:-/run/secrets}
MUXI_SERVE_HOST=${MUXI_SERVE_HOST:-0.0.0.0}
MUXI_SERVE_PORT=${MUXI_SERVE_PORT:-8765}
export MUXI_HOME

# Every provider muxi knows a key variable for (muxi_cli/providers/builtin; a
# test keeps this list in step), and the pinned admin key.
KNOWN_SECRETS="ANTHROPIC_API_KEY OPENAI_API_KEY GEMINI_API_KEY GROQ_API_KEY \
MISTRAL_API_KEY DEEPSEEK_API_KEY OPENROUTER_API_KEY MUXI_ADMIN_KEY"

say() {
    printf 'muxi-entrypoint: %s\n' "$*" >&2
}

die() {
    say "error: $*"
    exit 2
}

# The value of the variable named $1 ("" when unset).
value_of() {
    eval "printf '%s' \"\${$1:-}\""
}

# Read the file $2 into the variable $1, refusing an unreadable or empty file
# (an empty key would only fail later, at the first model call, less clearly).
load_file() {
    [ -r "$2" ] || die "cannot read $2 (for $1): is it mounted and readable by uid $(id -u)?"
    loaded=$(cat "$2")
    [ -n "$loaded" ] || die "$2 (for $1) is empty"
    export "$1=$loaded"
    unset loaded
}

load_secret() {
    name=$1
    file_var="${name}_FILE"
    from_file=$(value_of "$file_var")
    if [ -n "$(value_of "$name")" ]; then
        [ -z "$from_file" ] || die "both $name and $file_var are set: keep one"
        return 0
    fi
    if [ -n "$from_file" ]; then
        load_file "$name" "$from_file"
        unset "$file_var"
        say "$name read from $from_file"
        return 0
    fi
    lower=$(printf '%s' "$name" | tr '[:upper:]' '[:lower:]')
    for candidate in "$MUXI_SECRETS_DIR/$name" "$MUXI_SECRETS_DIR/$lower"; do
        if [ -f "$candidate" ]; then
            load_file "$name" "$candidate"
            say "$name read from $candidate"
            return 0
        fi
    done
}

for secret in $KNOWN_SECRETS ${MUXI_SECRET_VARS:-}; do
    case $secret in
        *[!A-Za-z0-9_]* | [0-9]*) die "MUXI_SECRET_VARS: '$secret' is not a variable name" ;;
    esac
    load_secret "$secret"
done

# The data folder: sessions, server keys, memory and media live under it
# (config/, data/, cache/); folders made here are private to the user (0700).
if ! (umask 077 && mkdir -p "$MUXI_HOME/config" "$MUXI_HOME/data" "$MUXI_HOME/cache") 2>/dev/null \
    || ! [ -w "$MUXI_HOME/data" ]; then
    die "the data folder $MUXI_HOME is not writable by uid $(id -u): for a bind mount, \
chown -R $(id -u):$(id -g) the host folder (or use a named volume)"
fi
[ "$(id -u)" != 0 ] || say "warning: running as root; the image's user is muxi (--user $(id -u muxi 2>/dev/null || echo 10001))"

case ${1:-serve} in
    serve)
        [ "$#" -eq 0 ] || shift
        ;;
    -*) ;;
    *) exec "$@" ;;
esac

if [ -n "${MUXI_CONFIG:-}" ] && ! [ -f "$MUXI_CONFIG" ]; then
    die "no formation at $MUXI_CONFIG (MUXI_CONFIG): mount a folder holding muxi.yaml at \
$(dirname "$MUXI_CONFIG"), or set MUXI_CONFIG to your file"
fi

# exec: muxi serve gets SIGTERM from the container runtime (through tini) and
# drains running turns (--grace) before it exits.
exec muxi serve --host "$MUXI_SERVE_HOST" --port "$MUXI_SERVE_PORT" "$@"
