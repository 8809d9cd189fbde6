#!/usr/bin/env bash
# Builds the nslab book with the pinned tools, installing them first when the
# installed version differs (or they are missing).
#
#   bash scripts/book.sh     # install if needed, then build and link-check
#
# The HTML lands in book/book/html; the link check (internal links only, no
# network) runs as a second mdBook output and fails the build on a broken link.
#
# The mermaid assets (book/mermaid.min.js, book/mermaid-init.js) are committed:
# they were written by `mdbook-mermaid install book` with the version pinned
# below. After changing MDBOOK_MERMAID_VERSION, rerun that command and commit
# the result.
set -euo pipefail

MDBOOK_VERSION=0.5.4
MDBOOK_MERMAID_VERSION=0.17.1
MDBOOK_LINKCHECK2_VERSION=0.13.0

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# cargo installs into $CARGO_HOME/bin (default ~/.cargo/bin); make sure the
# freshly installed tools are the ones mdbook and this script find.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# The version cargo recorded for an installed crate, or nothing.
# `cargo install --list` prints "NAME vVERSION:" for each installed crate;
# that works for every tool, whatever its own --version prints.
installed_version() {
    cargo install --list | sed -n "s/^$1 v\([^ :]*\):\$/\1/p"
}

# ensure NAME VERSION [extra cargo install args]
ensure() {
    local name=$1 version=$2
    shift 2
    local have
    have=$(installed_version "$name")
    if [[ "$have" == "$version" ]] && command -v "$name" >/dev/null; then
        echo "book.sh: $name $version already installed"
        return
    fi
    echo "book.sh: installing $name $version (found: ${have:-none})"
    # --force: replace a different installed version in place.
    cargo install --locked --force --version "$version" "$@" "$name"
}

# mdBook without the `serve` and `watch` features (an HTTP server and a file
# watcher): a much shorter build, and this script only builds and checks.
# To preview while writing, install the default features yourself:
#   cargo install --locked --force --version 0.5.4 mdbook && mdbook serve book
ensure mdbook "$MDBOOK_VERSION" --no-default-features --features search
ensure mdbook-mermaid "$MDBOOK_MERMAID_VERSION"
ensure mdbook-linkcheck2 "$MDBOOK_LINKCHECK2_VERSION"

mdbook build book
echo "book.sh: built book/book/html/index.html; links checked"
