#!/bin/sh
# gen-man.sh OPTALLY OUTDIR VERSION: write optally.1 and one optally-CMD.1
# per subcommand into OUTDIR, with Debian's help2man, from the --help text
# of the built binary. The subcommands are the ones `optally --help` lists
# (its "commands:" block), so a new subcommand gets its page without an
# edit here. Fails (exit 1) when help2man is missing, when `--help` lists
# no command, or when help2man fails on one of them: a package without its
# man pages is a build error, never a quiet skip.
set -eu
if [ $# -ne 3 ]; then
  echo "usage: gen-man.sh OPTALLY OUTDIR VERSION" >&2
  exit 64
fi
bin=$1 out=$2 version=$3
H2M=${HELP2MAN:-help2man}
if ! command -v "$H2M" >/dev/null 2>&1; then
  echo "gen-man.sh: help2man not found: install Debian's help2man (scripts/deps.sh does)" >&2
  exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" --help >"$tmp/help"
# "  consume   run the consumer daemon: ..." lines after "commands:".
sed -n '/^commands:/,/^$/s/^  \([a-z][a-z0-9-]*\)  *\(.*\)$/\1\t\2/p' "$tmp/help" >"$tmp/cmds"
if [ ! -s "$tmp/cmds" ]; then
  echo "gen-man.sh: '$bin --help' lists no command" >&2
  exit 1
fi

"$H2M" -N --no-discard-stderr --version-string="$version" \
  --name="fold armed-conflict operation events into running tallies" \
  -o "$out/optally.1" "$bin"

# help2man names a page after the program it runs: a wrapper called
# optally-CMD that runs `optally CMD`.
tab=$(printf '\t')
while IFS="$tab" read -r cmd what; do
  w="$tmp/optally-$cmd"
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin" "$cmd" >"$w"
  chmod +x "$w"
  "$H2M" -N --no-discard-stderr --version-string="$version" --name="$what" \
    -o "$out/optally-$cmd.1" "$w"
done <"$tmp/cmds"
