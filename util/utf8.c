/* utf8.c — strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF; and the two ways moescope shows untrusted text:
 * repaired to valid UTF-8 (JSON) or escaped for a terminal (messages, tables). Documents must
 * be valid UTF-8 before they reach the tokenizer, so a bad file is reported with its position
 * instead of silently becoming byte-fallback tokens. */
#include "msutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

size_t ms_utf8_valid_prefix(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* > U+10FFFF */
        } else {
            return i; /* continuation byte, C0/C1, F5..FF */
        }
        if (len - i < n) return i;
        if (p[i + 1] < lo || p[i + 1] > hi) return i;
        for (size_t j = 2; j < n; j++)
            if (p[i + j] < 0x80 || p[i + j] > 0xBF) return i;
        i += n;
    }
    return len;
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 when it is invalid. */
static size_t seq_len(const char *s, size_t len) {
    size_t ok = ms_utf8_valid_prefix(s, len < 4 ? len : 4);
    if (ok == 0) return 0;
    unsigned c = (unsigned char)s[0];
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

char *ms_utf8_fix(const char *s, size_t len) {
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *out = malloc(len * 3 + 1), *o = out; /* each bad byte becomes 3 bytes of U+FFFD */
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        size_t k = seq_len(s + i, len - i);
        if (k == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            if (!(k == 1 && s[i] == 0)) {
                memcpy(o, s + i, k);
                o += k;
            }
            i += k;
        }
    }
    *o = 0;
    return out;
}

char *ms_utf8_fix_take(char *s) {
    if (!s) return NULL;
    size_t n = strlen(s);
    if (ms_utf8_valid_prefix(s, n) == n) return s;
    char *t = ms_utf8_fix(s, n);
    free(s);
    return t;
}

char *ms_text_safe(const char *s, char *buf, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(s), o = 0;
    buf[0] = 0;
    if (n < 1) return buf;
    for (size_t i = 0; i < len;) {
        size_t k = seq_len(s + i, len - i);
        unsigned c = (unsigned char)s[i];
        int bad = k == 0 || c < 0x20 || c == 0x7F ||
                  (k == 2 && c == 0xC2 && (unsigned char)s[i + 1] < 0xA0);
        size_t need = bad ? 4 * (k ? k : 1) : k;
        if (o + need + 1 > n) {
            /* keep room for "..." */
            while (o > 0 && o + 4 > n) {
                o--;
                while (o > 0 && ((unsigned char)buf[o] & 0xC0) == 0x80)
                    o--;
            }
            if (o + 4 <= n) memcpy(buf + o, "...", 3), o += 3;
            break;
        }
        if (bad) {
            size_t m = k ? k : 1; /* a C1 control is escaped byte by byte */
            for (size_t j = 0; j < m; j++) {
                unsigned b = (unsigned char)s[i + j];
                buf[o++] = '\\', buf[o++] = 'x', buf[o++] = hex[b >> 4], buf[o++] = hex[b & 15];
            }
            i += m;
        } else {
            memcpy(buf + o, s + i, k);
            o += k;
            i += k;
        }
    }
    buf[o] = 0;
    return buf;
}

void ms_text_safe_inplace(char *s, size_t n) {
    if (!s || n == 0) return;
    char *tmp = malloc(n);
    if (!tmp) { /* out of memory: at least one line without control characters */
        for (char *c = s; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7F) *c = '?';
        return;
    }
    ms_text_safe(s, tmp, n);
    memcpy(s, tmp, strlen(tmp) + 1);
    free(tmp);
}
