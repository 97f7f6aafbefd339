/* corpora.h — documents (domain, source, text) from plain text files or folders, JSONL,
 * zstd-compressed JSONL (streamed) and The Pile's format, selected and sampled by a manifest.
 *
 * Manifest (JSON, docs/CORPORA.md):
 *   { "name": "demo",
 *     "seed": 1,                       // sampling seed (reproducible)
 *     "max_tokens_per_doc": 2048,      // optional; applied by the capture after tokenization
 *     "docs_per_domain": 20,           // optional default for every domain
 *     "domains": [
 *       { "name": "ArXiv",
 *         "sources": ["arxiv/"],       // paths relative to the manifest: files, folders,
 *                                      // .jsonl, .jsonl.zst
 *         "text_field": "text",        // JSONL field holding the text (default "text")
 *         "pile_set_name": "ArXiv",    // keep only JSONL lines whose meta.pile_set_name
 *                                      // matches (case-insensitive; Github == GitHub)
 *         "docs": 20 } ] }             // documents to sample (default: all)
 * Sampling with "docs" is seeded reservoir (bottom-k) sampling: each candidate's key depends
 * only on (seed, domain name, source path as written, line), so the sample is the same on every
 * run and whatever other domains the manifest lists. One streaming pass over each distinct
 * source file fills all sampled domains; memory is bounded by the samples. Documents keep
 * their order of appearance in the sources. Domains without "docs" are streamed.
 *
 * Sources must be regular files or folders: a FIFO, device or socket (also inside a folder) is
 * refused at open, never read. JSONL lines end in "\n" or "\r\n" and hold exactly one object;
 * zstd files may hold several frames and skippable frames (pzstd). A document cannot hold
 * U+0000 ("\u0000" in the text field, a NUL byte): an error, never a cut document.
 *
 * Errors as in engine.h: 0, MS_ERR_INPUT (not a regular file, malformed JSON line, two values
 * on a line, missing text field, invalid UTF-8, U+0000, empty file, corrupt or truncated zstd
 * frame: message names file and line) or MS_ERR_RUNTIME (read error, out of memory). Messages
 * are one line, made terminal-safe (ms_text_safe). With skip_bad, bad documents are skipped
 * and counted instead (never unreadable sources or read errors). docs/CORPORA.md. */
#ifndef MS_CORPORA_H
#define MS_CORPORA_H

#include <stddef.h>
#include <stdint.h>

#include "msutil.h" /* ms_utf8_valid_prefix */

#ifndef MS_ERR_INPUT
#define MS_ERR_INPUT   2
#define MS_ERR_RUNTIME 1
#endif

typedef struct ms_doc {
    int domain;         /* index into the corpus' domains */
    const char *source; /* "path:line" or "path" (owned by the corpus, valid until next) */
    const char *text;   /* UTF-8, NUL-terminated (valid until the next call) */
    size_t len;
} ms_doc;

typedef struct ms_corpus ms_corpus;

typedef struct ms_corpus_opts {
    const char *manifest;     /* a manifest file, or NULL to use `files` */
    const char *const *files; /* plain sources (one domain per file, named by file stem),
                                 used when manifest is NULL */
    int n_files;
    const char *text_field; /* for JSONL files given directly (default "text") */
    int skip_bad;
} ms_corpus_opts;

int ms_corpus_open(ms_corpus **out, const ms_corpus_opts *o, char *err, size_t errlen);
void ms_corpus_close(ms_corpus *c);
int ms_corpus_n_domains(const ms_corpus *c);
const char *ms_corpus_domain(const ms_corpus *c, int i);
/* The manifest as JSON text (normalised; for provenance), owned by c. */
const char *ms_corpus_manifest_json(const ms_corpus *c);
/* Next document: returns 1 and fills *d, 0 at the end, or MS_ERR_* (negated: -2 / -1). */
int ms_corpus_next(ms_corpus *c, ms_doc *d, char *err, size_t errlen);
int64_t ms_corpus_n_skipped(const ms_corpus *c);
/* The manifest's max_tokens_per_doc (0: no limit); the capture truncates documents to it
 * after tokenization, before cutting windows. */
int64_t ms_corpus_max_tokens_per_doc(const ms_corpus *c);
/* Total documents the corpus will yield when known in advance (every domain sampled, the
 * samples were drawn at open), else 0. For progress and ETA. */
int64_t ms_corpus_n_docs_hint(const ms_corpus *c);

/* The files the corpus reads (every domain's, in order; a file two domains share appears
 * twice) and the manifest, for a command to check its outputs against: i in [0, n). */
int ms_corpus_n_files(const ms_corpus *c);
const char *ms_corpus_file(const ms_corpus *c, int i);
/* Refuses an output path that is one of the corpus' files or its manifest (same device and
 * inode, whatever the spelling): MS_ERR_INPUT with "<out>: is the same file as the corpus file
 * <file>; refusing to overwrite it", else 0 (also when out does not exist or is "-"). */
int ms_corpus_check_output(const ms_corpus *c, const char *out, char *err, size_t errlen);

/* ---- DM Mathematics generator (corpora/dm_math.c; section owned by the sample corpora) ----
 * Documents in the style of DeepMind's mathematics dataset as The Pile holds it: each document
 * is one module's question/answer pairs, "question\nanswer\n" repeated (docs/SAMPLES.md).
 * Document `index` of `seed` is the same on every run and platform, whatever the count asked
 * for; module = index % ms_dm_math_n_modules(). *text is malloc'ed (caller frees), UTF-8
 * (ASCII), ends with a newline. Returns 0, MS_ERR_INPUT (negative index) or MS_ERR_RUNTIME. */
int ms_dm_math_doc(uint64_t seed, int64_t index, char **text, size_t *len, char *err,
                   size_t errlen);
int ms_dm_math_n_modules(void);
const char *ms_dm_math_module_name(int i); /* "algebra__linear_1d", ...; NULL if out of range */
/* ---- end of the DM Mathematics section ---- */

#endif
