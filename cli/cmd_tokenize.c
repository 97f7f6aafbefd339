/* cmd_tokenize.c — `moescope tokenize`: the model's token ids of a text (the ids the router
 * sees), optionally with their pieces. Needs only the vocabulary, so --model takes a GGUF
 * file, an HF folder (its tokenizer.json), a tokenizer.json or a .safetensors file of an HF
 * folder; no weights are read. */
#include "cli.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static int run(int argc, char **argv);

const ms_command ms_cmd_tokenize = {
    "tokenize", "token ids of a text (SentencePiece BPE from GGUF or tokenizer.json)",
    "usage: moescope tokenize --model MODEL [--pieces] [--no-bos] [--special]\n"
    "                         [--original-regex] (--file F | TEXT)\n"
    "\n"
    "Prints the token ids of TEXT (one argument; quote it) or of the bytes of file F\n"
    "(- = standard input) on one line, space separated, BOS first when the model adds it.\n"
    "The text is taken byte for byte: no newline is added or removed. Invalid UTF-8 is\n"
    "encoded as byte tokens <0xXX> (docs/TOKENIZER.md).\n"
    "\n"
    "options:\n"
    "  -m, --model MODEL   a .gguf file (its vocabulary), an HF folder or its tokenizer.json;\n"
    "                      only the vocabulary is read\n"
    "  -f, --file F        tokenize the contents of F instead of TEXT\n"
    "  -p, --pieces        then one line per token: id, TAB, the piece as stored in the\n"
    "                      vocabulary (bytes < 0x20, 0x7F and backslash escaped as \\xNN)\n"
    "      --no-bos        do not add BOS (nor EOS) even if the model adds them\n"
    "      --special       the text of control tokens (<|start|>, <s>, ...) in the input\n"
    "                      becomes those tokens, as in a chat transcript written in the\n"
    "                      model's template; without it such text is plain text\n"
    "      --original-regex\n"
    "                      GGUF gpt-4o (GPT-OSS): split with the model's own pattern, as\n"
    "                      tiktoken and its tokenizer.json do, not llama.cpp's rewrite of it\n"
    "                      (they differ on combining marks and non-ASCII upper/lower case)\n"
    "      --describe      print the tokenizer's description (JSON) and exit\n"
    "  -q, --quiet         no messages\n"
    "  -v, --verbose       more messages\n"
    "  -h, --help          this text\n",
    run, 15};

static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    *len = n;
    return buf;
}

static void print_piece(const char *p) {
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7F || c == '\\')
            printf("\\x%02X", c);
        else
            putchar(c);
    }
}

static int run(int argc, char **argv) {
    const ms_command *cmd = &ms_cmd_tokenize;
    enum { OPT_NO_BOS = 1000, OPT_DESCRIBE, OPT_SPECIAL, OPT_ORIG };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"file", required_argument, 0, 'f'},
                                         {"pieces", no_argument, 0, 'p'},
                                         {"no-bos", no_argument, 0, OPT_NO_BOS},
                                         {"describe", no_argument, 0, OPT_DESCRIBE},
                                         {"special", no_argument, 0, OPT_SPECIAL},
                                         {"original-regex", no_argument, 0, OPT_ORIG},
                                         MS_COMMON_LONG_OPTS};
    const char *model = NULL, *file = NULL;
    int pieces = 0, bos = 1, describe = 0, c;
    unsigned flags = 0;
    ms_opt_begin();
    while ((c = getopt_long(argc, argv, MS_COMMON_SHORT_OPTS "m:f:p", opts, NULL)) != -1) {
        int r = ms_opt_common(cmd, c, argv);
        if (r >= 0) return r;
        if (r == -1) continue;
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 'p':
            pieces = 1;
            break;
        case OPT_NO_BOS:
            bos = 0;
            break;
        case OPT_DESCRIBE:
            describe = 1;
            break;
        case OPT_SPECIAL:
            flags |= MS_TOKENIZE_SPECIAL;
            break;
        case OPT_ORIG:
            flags |= MS_TOKENIZE_ORIGINAL_REGEX;
            break;
        default:
            return ms_usage_error(cmd, "unexpected option");
        }
    }
    if (!model) return ms_usage_error(cmd, "--model is required");
    int npos = argc - optind;
    if (!describe) {
        if (file && npos > 0) return ms_usage_error(cmd, "give either --file or TEXT, not both");
        if (!file && npos == 0) return ms_usage_error(cmd, "no text (give TEXT or --file F)");
        if (npos > 1) return ms_usage_error(cmd, "give the text as one argument (quote it)");
    }

    char err[1024];
    ms_tokenizer *t = NULL;
    int rc = ms_tokenizer_open(&t, model, err, sizeof err);
    if (rc) {
        ms_error("%s", err);
        return rc == MS_ERR_INPUT ? MS_EXIT_USAGE : MS_EXIT_RUNTIME;
    }
    if (describe) {
        char *js = ms_tokenizer_describe_json(t);
        if (js) puts(js);
        free(js);
        ms_tokenizer_free(t);
        return js ? MS_EXIT_OK : MS_EXIT_RUNTIME;
    }

    char *text = NULL;
    size_t len = 0;
    if (file) {
        if (strcmp(file, "-") == 0) {
            text = read_stream(stdin, &len);
            if (!text) {
                ms_error("-: cannot read standard input");
                ms_tokenizer_free(t);
                return MS_EXIT_RUNTIME;
            }
        } else {
            int r = ms_read_file(file, &text, &len);
            if (r) {
                ms_tokenizer_free(t);
                return r;
            }
        }
    }
    const char *src = file ? text : argv[optind];
    if (!file) len = strlen(src);

    int32_t *ids = NULL;
    int64_t n = 0;
    double t0 = ms_now();
    rc = ms_tokenize_ex(t, src, len, flags | (bos ? MS_TOKENIZE_BOS : 0), &ids, &n);
    double dt = ms_now() - t0;
    if (rc) {
        ms_error("%s: out of memory tokenizing %zu bytes", file ? file : "TEXT", len);
        free(text);
        ms_tokenizer_free(t);
        return MS_EXIT_RUNTIME;
    }
    for (int64_t i = 0; i < n; i++)
        printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
    if (pieces) {
        for (int64_t i = 0; i < n; i++) {
            printf("%d\t", ids[i]);
            if (ms_tokenizer_byte_level(t)) { /* "Ġworld" as " world" */
                char buf[1024];
                ms_token_display(t, ids[i], buf, sizeof buf);
                print_piece(buf);
            } else {
                print_piece(ms_token_piece(t, ids[i]));
            }
            putchar('\n');
        }
    }
    ms_debug("%lld tokens from %zu bytes in %.3f s", (long long)n, len, dt);
    free(ids);
    free(text);
    ms_tokenizer_free(t);
    return MS_EXIT_OK; /* main() checks that stdout took the results */
}
