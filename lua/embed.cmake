# Embeds a Lua source file as a C byte array: cmake -DIN=file.lua -DOUT=file.h -DNAME=sym -P
# embed.cmake writes `static const char sym[] = {...};` (NUL-terminated) into OUT. Bytes rather
# than a string literal, so no character in the source needs escaping.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN} by embed.cmake; do not edit. */\nstatic const char ${NAME}[] = {${bytes}0x00};\n")
