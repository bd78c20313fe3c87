/*
 * ilua.c: a Lua 5.4 interpreter with iron-learn's `il` module preloaded as a global.
 *
 * It behaves like the stock `lua` (same options, `arg` table, LUA_INIT handling, REPL, error
 * reports and exit codes), written after Lua 5.4's lua.c:
 *   ilua [options] [script [args]]
 *     -e stat  run stat        -l mod / -l g=mod  require mod into global mod (or g)
 *     -i       REPL after the script               -v  print versions
 *     -E       ignore LUA_INIT  -W  warnings on    --  stop options    -  run stdin
 * The REPL reads plain lines (no readline dependency), tries "return <line>" first so that
 * expressions print, and continues incomplete chunks with the ">> " prompt.
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "ironlearn.h"
#include "l_impl.h"

#define PROGNAME "ilua"
#define PROMPT1 "> "
#define PROMPT2 ">> "
#define MAXINPUT 4096
#define EOFMARK "<eof>"

/* Program name for error reports; NULL inside the REPL, where lua prints no prefix either. */
static const char *progname = PROGNAME;

/* The state the SIGINT handler interrupts. A program-level global, as in lua.c: a signal
 * handler can reach nothing else. The library itself keeps no global state. */
static lua_State *volatile globalL = NULL;

/* Hook set by the SIGINT handler: raises at the next Lua instruction. */
static void lstop(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* SIGINT while Lua runs: a second Ctrl-C kills the process (default action restored). */
static void laction(int sig) {
    signal(sig, SIG_DFL);
    lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void print_usage(const char *badoption) {
    if (badoption[1] == 'e' || badoption[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", PROGNAME, badoption);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, badoption);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n",
            PROGNAME);
}

static void l_message(const char *pname, const char *msg) {
    if (pname != NULL) fprintf(stderr, "%s: ", pname);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
}

/* Prints the error on top (if status is an error) and pops it. [-(0|1), +0, -] */
static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        l_message(progname, msg != NULL ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    return status;
}

/* Message handler: adds a traceback; non-string errors use __tostring or their type. */
static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below its narg arguments with a traceback handler and Ctrl-C armed.
 * [-(narg+1), +(nres|1), -] */
static int docall(lua_State *L, int narg, int nres) {
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    globalL = L;
    signal(SIGINT, laction);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static void print_version(void) {
    printf("%s\niron-learn %s\n", LUA_COPYRIGHT, il_version());
    fflush(stdout);
}

/* Builds the global `arg`: script name at 0, its arguments at 1.., interpreter args below 0. */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
    if (script == argc) script = 0; /* no script name */
    lua_createtable(L, argc - (script + 1), script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

static int dofile(lua_State *L, const char *name) {
    return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l mod or -l g=mod: global g (or mod) = require(mod). */
static int dolibrary(lua_State *L, const char *arg) {
    const char *eq = strchr(arg, '=');
    const char *mod = eq != NULL ? eq + 1 : arg;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) {
        if (eq != NULL)
            lua_pushlstring(L, arg, (size_t)(eq - arg));
        else
            lua_pushstring(L, mod);
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    return report(L, status);
}

/* Pushes the script's arguments (arg[1..#arg]); returns how many. [-0, +n, e] */
static int pushargs(lua_State *L) {
    if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    int i;
    for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -i);
    return n;
}

static int handle_script(lua_State *L, char **argv) {
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL; /* stdin */
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) status = docall(L, pushargs(L), LUA_MULTRET);
    return report(L, status);
}

/* Option bits found by collectargs. */
enum { HAS_ERROR = 1, HAS_I = 2, HAS_V = 4, HAS_E = 8, HAS_BIGE = 16 };

/* Scans the options; *first becomes the script's index (0: none). Returns HAS_* bits, or
 * HAS_ERROR with *first at the bad option. */
static int collectargs(char **argv, int *first) {
    int args = 0;
    for (int i = 1; argv[i] != NULL; i++) {
        *first = i;
        if (argv[i][0] != '-') return args; /* the script */
        switch (argv[i][1]) {
        case '-': /* "--" */
            if (argv[i][2] != '\0') return HAS_ERROR;
            *first = i + 1;
            return args;
        case '\0': return args; /* "-": the script is stdin */
        case 'E':
            if (argv[i][2] != '\0') return HAS_ERROR;
            args |= HAS_BIGE;
            break;
        case 'W':
            if (argv[i][2] != '\0') return HAS_ERROR;
            break;
        case 'i': args |= HAS_I; /* -i implies -v */ /* fallthrough */
        case 'v':
            if (argv[i][2] != '\0') return HAS_ERROR;
            args |= HAS_V;
            break;
        case 'e': args |= HAS_E; /* fallthrough */
        case 'l': /* both need an argument, attached or next */
            if (argv[i][2] == '\0') {
                i++;
                if (argv[i] == NULL || argv[i][0] == '-') return HAS_ERROR;
            }
            break;
        default: return HAS_ERROR;
        }
    }
    *first = 0;
    return args;
}

/* Runs -e, -l and -W in order, up to (not including) argv[n]. Returns 0 on a failure. */
static int runargs(lua_State *L, char **argv, int n) {
    for (int i = 1; i < n; i++) {
        int option = argv[i][1];
        if (option == 'e' || option == 'l') {
            const char *extra = argv[i] + 2;
            if (*extra == '\0') extra = argv[++i];
            int status = option == 'e' ? dostring(L, extra, "=(command line)")
                                       : dolibrary(L, extra);
            if (status != LUA_OK) return 0;
        } else if (option == 'W') {
            lua_warning(L, "@on", 0);
        }
    }
    return 1;
}

static int handle_luainit(lua_State *L) {
    const char *name = "=LUA_INIT_5_4";
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL) return LUA_OK;
    if (init[0] == '@') return dofile(L, init + 1);
    return dostring(L, init, name);
}

/* ---- REPL -------------------------------------------------------------------------------- */

/* The prompt: _PROMPT / _PROMPT2 when set, as in lua. */
static const char *get_prompt(lua_State *L, int firstline) {
    if (lua_getglobal(L, firstline ? "_PROMPT" : "_PROMPT2") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushstring(L, firstline ? PROMPT1 : PROMPT2);
    }
    const char *p = luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    return p;
}

/* Reads a line into a new string on the stack; 0 at end of input. [-0, +(0|1), e] */
static int pushline(lua_State *L, int firstline) {
    char buffer[MAXINPUT];
    const char *prompt = get_prompt(L, firstline);
    fputs(prompt, stdout);
    fflush(stdout);
    lua_pop(L, 1);
    if (fgets(buffer, sizeof buffer, stdin) == NULL) return 0;
    size_t l = strlen(buffer);
    if (l > 0 && buffer[l - 1] == '\n') buffer[--l] = '\0';
    if (firstline && buffer[0] == '=') /* Lua 5.2's "=expr" */
        lua_pushfstring(L, "return %s", buffer + 1);
    else
        lua_pushlstring(L, buffer, l);
    return 1;
}

/* Tries the line on top as "return <line>;"; on success the compiled chunk replaces it. */
static int addreturn(lua_State *L) {
    const char *line = lua_tostring(L, -1);
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    if (status == LUA_OK)
        lua_remove(L, -2); /* the "return" string */
    else
        lua_pop(L, 2); /* the error and the "return" string */
    return status;
}

/* A syntax error at <eof> means the chunk is incomplete: read more. */
static int incomplete(lua_State *L, int status) {
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg, lmark = sizeof(EOFMARK) - 1;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        if (lmsg >= lmark && strcmp(msg + lmsg - lmark, EOFMARK) == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* Compiles the statement at 1, reading continuation lines while it is incomplete. */
static int multiline(lua_State *L) {
    for (;;) {
        size_t len;
        const char *line = lua_tolstring(L, 1, &len);
        int status = luaL_loadbuffer(L, line, len, "=stdin");
        if (!incomplete(L, status) || !pushline(L, 0)) return status;
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
}

/* Reads and compiles one statement or expression; -1 at end of input. */
static int loadline(lua_State *L) {
    lua_settop(L, 0);
    if (!pushline(L, 1)) return -1;
    int status = addreturn(L);
    if (status != LUA_OK) status = multiline(L);
    lua_remove(L, 1); /* the line */
    return status;
}

/* Prints everything on the stack with the global print. */
static void l_print(lua_State *L) {
    int n = lua_gettop(L);
    if (n == 0) return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "print");
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        l_message(progname,
                  lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
}

static void doREPL(lua_State *L) {
    int status;
    const char *oldprogname = progname;
    progname = NULL;
    while ((status = loadline(L)) != -1) {
        if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK)
            l_print(L);
        else
            report(L, status);
    }
    lua_settop(L, 0);
    fputs("\n", stdout);
    fflush(stdout);
    progname = oldprogname;
}

/* ---- main -------------------------------------------------------------------------------- */

/* Everything runs protected: pmain(argc, argv) returns true on success. */
static int pmain(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int script = 0;
    int args = argv[0] != NULL ? collectargs(argv, &script) : 0;
    int optlim = script > 0 ? script : argc;
    luaL_checkversion(L);
    if (args == HAS_ERROR) {
        print_usage(argv[script]);
        return 0;
    }
    if (args & HAS_V) print_version();
    if (args & HAS_BIGE) { /* tells package to ignore LUA_PATH/LUA_CPATH too */
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
    luaL_openlibs(L);
    luaL_requiref(L, "il", luaopen_il, 1); /* package.loaded.il and the global il */
    lua_pop(L, 1);
    createargtable(L, argv, argc, script);
    lua_gc(L, LUA_GCRESTART);
    lua_gc(L, LUA_GCGEN, 0, 0); /* as lua 5.4 does */
    if (!(args & HAS_BIGE) && handle_luainit(L) != LUA_OK) return 0;
    if (!runargs(L, argv, optlim)) return 0;
    if (script > 0 && handle_script(L, argv + script) != LUA_OK) return 0;
    if (args & HAS_I) {
        doREPL(L);
    } else if (script < 1 && !(args & (HAS_E | HAS_V))) {
        if (isatty(STDIN_FILENO)) {
            print_version();
            doREPL(L);
        } else {
            dofile(L, NULL);
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        l_message(PROGNAME, "cannot create state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_gc(L, LUA_GCSTOP); /* no collection while building the state */
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int result = lua_toboolean(L, -1);
    report(L, status);
    lua_close(L);
    return (result && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
