/* msutil.h — files and text, as every library of moescope handles them.
 *
 * Inputs are opened as regular files only: a FIFO, a device (/dev/zero), a socket or a
 * directory named as a model, config, tokenizer or corpus is refused at once with a message,
 * instead of blocking forever or being read without end. Outputs never destroy an input: a
 * command checks each output against its inputs by device and inode (not by spelling), and
 * writes a file under a temporary name in the same directory, renaming it over the target only
 * once it is complete, so a failed or interrupted write leaves the old file (or nothing).
 *
 * Text from files (domain names, model names, GGUF keys) is data: ms_text_safe() makes any
 * bytes printable in a terminal or an error line (control characters and invalid UTF-8
 * escaped as \xNN), ms_utf8_fix() makes them valid UTF-8 for JSON (invalid bytes become
 * U+FFFD, as a browser or Python's errors="replace" would show them).
 *
 * Errors: 0, MS_ERR_INPUT (the path names something that is not a usable file) or
 * MS_ERR_RUNTIME (I/O failure), with a one-line "<file>: <problem>" in err. */
#ifndef MS_UTIL_H
#define MS_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#ifndef MS_ERR_INPUT
#define MS_ERR_INPUT   2
#define MS_ERR_RUNTIME 1
#endif

/* ---- inputs ---- */

/* Opens path read-only (O_CLOEXEC) without blocking on a FIFO, and refuses anything that is not
 * a regular file. On success *fd is open in blocking mode and *st (if not NULL) holds its
 * fstat. A missing file is MS_ERR_INPUT ("<path>: No such file or directory"). */
int ms_open_regular(const char *path, int *fd, struct stat *st, char *err, size_t errlen);
/* The same as a stdio stream ("rb"); NULL on failure with the message in err and the status
 * in *status (if not NULL). */
FILE *ms_fopen_regular(const char *path, int *status, char *err, size_t errlen);

/* ---- outputs ---- */

/* 1 when both paths exist and are the same file (device and inode), else 0. */
int ms_same_file(const char *a, const char *b);
/* Refuses an output that is one of the inputs (NULL entries of inputs are skipped): returns
 * MS_ERR_INPUT with "<out>: is the same file as the input <input>; refusing to overwrite it",
 * else 0. "-" (stdout) is never an input's file. */
int ms_check_output(const char *out, const char *const *inputs, int n_inputs, char *err,
                    size_t errlen);

/* Registers path as an input of this process (a path that does not exist, and "-", are
 * ignored): from then on ms_outfile_open() refuses to write over the same file (device and
 * inode) under any name, with ms_check_output()'s message. A command registers its inputs
 * once, and every output a library writes for it (CSV tables, figure files, a report) is
 * covered. Returns 0, or MS_ERR_RUNTIME when out of memory. */
int ms_protect_input(const char *path);
/* MS_ERR_INPUT with that message when out is a registered input, else 0. */
int ms_check_protected(const char *out, char *err, size_t errlen);

/* A file written under a temporary name "<dir>/.<base>.tmp.<pid>.<n>" and renamed over the
 * target on commit; "-" writes to stdout (commit then flushes and checks for errors, so a
 * full stdout is an error). f is the stream to write to. */
typedef struct ms_outfile {
    FILE *f;
    char *path; /* the target */
    char *tmp;  /* the temporary name (NULL for stdout) */
} ms_outfile;
/* Refuses (MS_ERR_INPUT) a path that is a registered input (ms_protect_input). */
int ms_outfile_open(ms_outfile *o, const char *path, char *err, size_t errlen);
/* Flushes, checks the stream's error flag, fsyncs, closes and renames. On failure removes the
 * temporary file and returns MS_ERR_RUNTIME ("<path>: write failed: No space left on
 * device"). The outfile is closed in every case. */
int ms_outfile_commit(ms_outfile *o, char *err, size_t errlen);
/* Closes and removes the temporary file (nothing happens to the target). Safe after commit and
 * on a zeroed struct. */
void ms_outfile_abort(ms_outfile *o);
/* Checks stdout after the results were written: flush + error flag. MS_ERR_RUNTIME with
 * "stdout: write failed: ..." when something was lost (a full disk, a closed pipe). */
int ms_stdout_check(char *err, size_t errlen);

/* ---- text ---- */

/* UTF-8 validation (RFC 3629, strict): the byte offset of the first invalid sequence, or len
 * if the whole string is valid. */
size_t ms_utf8_valid_prefix(const char *s, size_t len);
/* A malloc'ed NUL-terminated copy of s (len bytes) with every invalid UTF-8 sequence replaced
 * by U+FFFD and NUL bytes dropped; NULL when out of memory. */
char *ms_utf8_fix(const char *s, size_t len);
/* Takes a malloc'ed NUL-terminated string (NULL allowed) and returns it when it is valid UTF-8,
 * else an ms_utf8_fix'ed copy (s is freed); NULL when s was NULL or memory ran out. For the
 * text of cJSON_Print*: cJSON copies bytes >= 0x80 verbatim and never splits them from
 * ASCII, so fixing the printed text is fixing every string in it, and the result is JSON
 * that is valid UTF-8 (RFC 8259) whatever names the tree held. */
char *ms_utf8_fix_take(char *s);
/* Copies NUL-terminated s into buf (size n >= 1, always terminated), escaping what a terminal
 * would interpret: C0 controls, DEL, C1 controls (U+0080..U+009F) and invalid UTF-8 bytes
 * become "\xNN" ("\n" and "\t" too: the result is one line). Valid printable UTF-8 is kept.
 * Truncates on a character boundary, ending in "..." when it had to. Returns buf. */
char *ms_text_safe(const char *s, char *buf, size_t n);
/* ms_text_safe() in place: s is a NUL-terminated string in a buffer of n bytes (an error
 * message built from names read from files). */
void ms_text_safe_inplace(char *s, size_t n);

#endif
