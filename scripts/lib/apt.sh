# Shared by the setup scripts: install Debian packages quietly, with `apt-get update` only when
# apt does not know them yet, or once more when a download fails on stale package lists.
# Source it, define say(), then call: apt_install LOGNAME PACKAGE...
# The log goes to $CACHE/apt-LOGNAME.log; its tail is printed if the install fails.

apt_install() {
    local name=$1
    shift
    mkdir -p "$CACHE"
    local log="$CACHE/apt-$name.log"
    : >"$log"
    export DEBIAN_FRONTEND=noninteractive
    local updated=
    _apt_fail() { tail -20 "$log" >&2; exit 1; }
    _apt_update() { say "apt-get update (log: $log)"; updated=1; apt-get update >>"$log" 2>&1; }
    _apt_get() { apt-get install -y --no-install-recommends "$@" >>"$log" 2>&1; }
    if ! apt-cache show "$@" >/dev/null 2>&1; then
        _apt_update || _apt_fail
    fi
    say "installing $* (log: $log)"
    if ! _apt_get "$@"; then
        [ -z "$updated" ] || _apt_fail
        { _apt_update && _apt_get "$@"; } || _apt_fail
    fi
}
