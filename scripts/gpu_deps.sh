#!/usr/bin/env bash
# gpu_deps.sh: packs, from this (development) machine, what the GPU machine may lack to build
# the library, the tests and ilua: cJSON (header, shared library), stb (headers), cmocka
# (header, shared library) and Lua 5.4 (headers, static library), with pkg-config files
# pointing at the pack. The GPU machine cannot reach a package registry, so gpu_deps in
# scripts/gpu_env.sh falls back to this pack when apt-get fails. Output: build-gpudeps/
# (ignored by git; carry it with the device call). Usage: scripts/gpu_deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-gpudeps
rm -rf "$out"
mkdir -p "$out/include/lua5.4" "$out/include/cjson" "$out/include/stb" "$out/lib/pkgconfig"
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

cp /usr/include/cmocka.h "$out/include/"
cp /usr/include/cjson/cJSON.h "$out/include/cjson/"
cp -P /usr/lib/"$multi"/libcjson.so* "$out/lib/"
cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h "$out/include/stb/"
cp -P /usr/lib/"$multi"/libcmocka.so* "$out/lib/"
cp /usr/include/lua5.4/*.h "$out/include/lua5.4/"
[[ -f /usr/include/$multi/lua5.4-deb-multiarch.h ]] &&
    cp /usr/include/"$multi"/lua5.4-deb-multiarch.h "$out/include/"
cp /usr/lib/"$multi"/liblua5.4.a "$out/lib/"

# prefix is filled in by gpu_deps in gpu_env.sh (sed) where the pack lands. The pack holds only
# the static liblua5.4.a, so -llua5.4 links it (a bare .a path in Libs would land before the
# objects).
cat >"$out/lib/pkgconfig/cmocka.pc" <<'EOF'
prefix=@PREFIX@
libdir=${prefix}/lib
includedir=${prefix}/include
Name: cmocka
Description: cmocka unit testing (packed by scripts/gpu_deps.sh)
Version: 1.1.5
Libs: -L${libdir} -lcmocka
Cflags: -I${includedir}
EOF
cat >"$out/lib/pkgconfig/libcjson.pc" <<'EOF'
prefix=@PREFIX@
libdir=${prefix}/lib
includedir=${prefix}/include
Name: libcjson
Description: cJSON (packed by scripts/gpu_deps.sh)
Version: 1.7.15
Libs: -L${libdir} -lcjson
Cflags: -I${includedir} -I${includedir}/cjson
EOF
cat >"$out/lib/pkgconfig/lua5.4.pc" <<'EOF'
prefix=@PREFIX@
libdir=${prefix}/lib
includedir=${prefix}/include
Name: Lua
Description: Lua 5.4 (static, packed by scripts/gpu_deps.sh)
Version: 5.4.4
Libs: -L${libdir} -llua5.4 -lm -ldl
Cflags: -I${includedir}/lua5.4 -I${includedir}
EOF
du -sh "$out"
