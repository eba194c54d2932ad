#!/bin/bash
# The layer check (doc/design.md): a folder of src/ may include and call
# only its own layer and the layers below it.  Two witnesses, neither of
# them blkclone's own: the #include lines of the sources, and the symbols
# the compiler left undefined in each object file (nm), which catch a call
# through a declaration written by hand.  Also fails on a header that
# includes itself through others (an include cycle), on two source files
# that call each other (a call cycle), and on a header declaring what only
# a higher layer defines.
#
# usage: layer-check.sh [SRCDIR BUILDDIR]   (make check: $TOP_SRCDIR, $TOP_BUILDDIR)
# exit 0: clean; 1: violations, one line each: FILE -> WHAT (layer A < B)
set -u -o pipefail
srcdir=${1:-${TOP_SRCDIR:?srcdir}}
builddir=${2:-${TOP_BUILDDIR:?builddir}}

# bottom up; a folder's rank is the number before it
RANKS="util:1 scsi:2 nvme:2 transport:3 volume:4 backend:5 core:6 cli:7"

rank_of_path() {	# src-relative path (scsi/lu.h) -> rank, or nothing
	local top=${1%%/*} r
	for r in $RANKS; do
		[ "${r%%:*}" = "$top" ] && { echo "${r#*:}"; return; }
	done
}

# the public headers: types for every layer; the engine's API above it
rank_of_public() {
	case $1 in
	blkclone/copy.h | blkclone/clone.h) echo 6 ;;
	*) echo 1 ;;
	esac
}

bad=0
report() { echo "layer-check: $*"; bad=$((bad + 1)); }

cd "$srcdir" || exit 2
mapfile -t files < <(find src -name '*.[ch]' | sort)
[ ${#files[@]} -gt 20 ] || { echo "layer-check: no sources under $srcdir/src" >&2; exit 2; }

# 1. includes
for f in "${files[@]}"; do
	rel=${f#src/}
	me=$(rank_of_path "$rel")
	[ -n "$me" ] || { report "$f: in no layer (folders: $RANKS)"; continue; }
	while IFS= read -r inc; do
		case $inc in
		blkclone/*) r=$(rank_of_public "$inc") ;;
		*/*) r=$(rank_of_path "$inc") ;;
		*) r=$me ;;	# a header beside the file
		esac
		[ -n "$r" ] || { report "$f includes \"$inc\": in no layer"; continue; }
		[ "$r" -le "$me" ] ||
			report "$f includes $inc (layer $me < $r)"
	done < <(sed -n -e 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\.h\)".*/\1/p' \
		-e 's/^#[[:space:]]*include[[:space:]]*<\(blkclone\/[^>]*\.h\)>.*/\1/p' "$f" |
		grep -v '^config\.h$')
done

# 2. include cycles among the project's headers
declare -A edges=()
for f in "${files[@]}"; do
	case $f in *.h) ;; *) continue ;; esac
	dir=$(dirname "${f#src/}")
	deps=""
	for inc in $(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\.h\)".*/\1/p' "$f"); do
		if [ -f "src/$inc" ]; then deps="$deps src/$inc"
		elif [ -f "src/$dir/$inc" ]; then deps="$deps src/$dir/$inc"
		fi
	done
	edges[$f]=$deps
done
# depth-first over the graph in the associative array named $1 (node ->
# "node node ..."): each edge that closes a cycle is reported as $2
declare -A seen=()
find_cycles() {
	local -n g=$1
	local what=$2 n
	seen=()
	visit() {	# seen 1 = on the path, 2 = done
		local n=$1 d
		seen[$n]=1
		for d in ${g[$n]:-}; do
			if [ "${seen[$d]:-0}" = 1 ]; then report "$what through $n -> $d"
			elif [ "${seen[$d]:-0}" = 0 ]; then visit "$d"
			fi
		done
		seen[$n]=2
	}
	for n in "${!g[@]}"; do
		[ "${seen[$n]:-0}" = 0 ] && visit "$n"
	done
}
find_cycles edges "include cycle"

# 3. calls: every symbol an object leaves undefined that another object of
# src/ defines must be defined in the same layer or a lower one
cd "$builddir" || exit 2
# objects of sources that exist (a tree built before a file moved keeps
# the old object)
mapfile -t objs < <(find src -name '*.o' | sort | while read -r o; do
	[ -f "$srcdir/${o%.o}.c" ] && echo "$o"; done)
[ ${#objs[@]} -gt 20 ] || { echo "layer-check: no objects under $builddir/src (build first)" >&2; exit 2; }
declare -A def=()
for o in "${objs[@]}"; do
	r=$(rank_of_path "${o#src/}")
	while read -r sym; do
		def[$sym]="$r ${o%.o}.c"
	done < <(nm -g --defined-only "$o" | awk '$2 ~ /^[TDBR]$/ {print $3}')
done
for o in "${objs[@]}"; do
	me=$(rank_of_path "${o#src/}")
	while read -r sym; do
		d=${def[$sym]:-}
		[ -n "$d" ] || continue	# libc, libiscsi, libnvme...
		r=${d%% *}
		[ "$r" -le "$me" ] ||
			report "${o%.o}.c calls $sym from ${d#* } (layer $me < $r)"
	done < <(nm -u "$o" | awk '{print $2}')
done

# 4. call cycles between files: two files that call each other are one
# file's job split badly, or one layer's job done in two places
declare -A calls=()
for o in "${objs[@]}"; do
	c=${o%.o}.c
	deps=""
	while read -r sym; do
		d=${def[$sym]:-}
		[ -n "$d" ] || continue
		f=${d#* }
		[ "$f" = "$c" ] || case " $deps " in *" $f "*) ;; *) deps="$deps $f" ;; esac
	done < <(nm -u "$o" | awk '{print $2}')
	calls[$c]=$deps
done
find_cycles calls "call cycle"

# 5. declarations: a header may not declare a function that only a higher
# layer defines (a lower layer could then call up without including it)
cd "$srcdir" || exit 2
for f in "${files[@]}"; do
	case $f in *.h) ;; *) continue ;; esac
	me=$(rank_of_path "${f#src/}")
	while read -r name; do
		d=${def[$name]:-}
		[ -n "$d" ] || continue
		r=${d%% *}
		[ "$r" -le "$me" ] ||
			report "$f declares $name, defined in ${d#* } (layer $me < $r)"
	done < <(sed -e 's|/\*.*\*/||g' -e 's|^[[:space:]]*\*.*||' "$f" |
		grep -o '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*(' | tr -d ' \t(' | sort -u)
done

if [ "$bad" -gt 0 ]; then
	echo "layer-check: $bad violation(s); layers bottom up: $RANKS" >&2
	exit 1
fi
echo "layer-check: ok (${#files[@]} sources, ${#objs[@]} objects)"
