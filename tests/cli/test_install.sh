#!/usr/bin/env bash
# `make install` layout: binary, library (static and shared), headers, pkg-config file, man page;
# and a program built only from the installed files (pkg-config) links and runs.
. "$(dirname "$0")/lib.sh"
: "${BW_BUILD:?}"
run cmake --install "$BW_BUILD" --prefix "$TMP/p"; expect_rc 0 install
for f in bin/bulwark lib/libbulwark.a lib/libbulwark.so include/bulwark/bulwark.h \
         lib/pkgconfig/bulwark.pc share/man/man1/bulwark.1; do
  [ -e "$TMP/p/$f" ] && ok || bad "installed tree lacks $f"
done
cat > "$TMP/use.c" <<'C'
#include <bulwark/bulwark.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct bw_scan_opts o;
	struct bw_scan_result *r = NULL;
	bw_scan_opts_default(&o);
	if (bw_scan_mem(&o, "mem", (const uint8_t *)"plain", 5, &r) != BW_OK || r == NULL)
		return 1;
	printf("%s %s\n", bw_version(), bw_verdict_str(r->verdict));
	bw_scan_result_free(r);
	return 0;
}
C
export PKG_CONFIG_PATH="$TMP/p/lib/pkgconfig"
run sh -c "${BW_CC:-cc} ${BW_CFLAGS:-} -std=c11 -o '$TMP/use' '$TMP/use.c' \$(pkg-config --cflags --libs bulwark)"
expect_rc 0 "compile against installed library"
run env LD_LIBRARY_PATH="$TMP/p/lib" "$TMP/use"; expect_rc 0 "run program"; expect_out_has "clean" "program output"
run man -l "$TMP/p/share/man/man1/bulwark.1"; expect_rc 0 "man page renders"
finish
