# Shared by scripts/ensure-*.sh (sourced, not run): install Debian packages as root or with sudo.
#
#   apt_prepare NAME "what is missing" "what to do without apt-get"   # sets SUDO, or exits 1 saying why
#   apt_install PACKAGE...                                             # update + install, waiting for dpkg locks

apt_prepare() {
    local who="$1" missing="$2" without_apt="$3"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "$who: $missing is not installed and this is not root; run: apt-get install $missing" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$who: no apt-get here; $without_apt" >&2
        exit 1
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    # Wait for another apt/dpkg run (another ensure-* script in a parallel job) instead of failing.
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}
