/*
 * ckpt_impl.h: internals shared by safetensors_write.c and safetensors_read.c. Not installed.
 */
#ifndef IL_CKPT_IMPL_H
#define IL_CKPT_IMPL_H

#include "il_impl.h"

/* Fault injection for tests: when > 0, counts down once per file operation of a write (open,
 * each write, fsync, close, rename, directory fsync); the operation that brings it to 0 fails
 * with IL_E_IO as a full disk or a kill would, so tests can break a save at every step. Tests
 * only (single-threaded); 0 means off. */
IL_INTERNAL extern int ili_ckpt_fail_at;

/* Largest header accepted: far above any real checkpoint's, so a lying length field cannot make
 * the reader allocate much. */
#define ILI_ST_MAX_HEADER (INT64_C(100) << 20)

/* "F32", "F64", "I64" by dtype, and back (-1 when unknown). */
IL_INTERNAL const char *ili_st_dtype_name(il_dtype dt);
IL_INTERNAL int ili_st_dtype_parse(const char *s);

#endif
