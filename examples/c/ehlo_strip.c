/* ehlo_strip: withhold EHLO capabilities from a file of SMTP server replies, through
 * libpostern's resumable reply parser (fed in reads of --chunk bytes) and EHLO rewriter.
 *
 *   ehlo_strip [--lenient] [--chunk N] [--context EHLO,RSET,...] [--remove KW,KW] FILE
 *
 * Writes the rewritten replies to stdout; on a framing error or a reply left incomplete,
 * writes nothing, prints the error to stderr and exits 1. Usage errors exit 2. */
#include <postern.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT (16u * 1024u * 1024u)

static int read_file(const char *path, uint8_t **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    uint8_t *buf = malloc(MAX_INPUT);
    size_t n = buf == NULL ? 0 : fread(buf, 1, MAX_INPUT, f);
    int failed = buf == NULL || ferror(f) || !feof(f);
    fclose(f);
    if (failed) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* The index-th comma-separated context is EHLO or LHLO (case-insensitive). */
static int context_is_ehlo(const char *list, size_t index) {
    const char *p = list;
    for (size_t i = 0; i < index; i++) {
        p = strchr(p, ',');
        if (p == NULL) {
            return 0;
        }
        p++;
    }
    size_t n = strcspn(p, ",");
    if (n != 4) {
        return 0;
    }
    char word[5];
    for (size_t i = 0; i < 4; i++) {
        char c = p[i];
        word[i] = (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
    }
    word[4] = '\0';
    return strcmp(word, "EHLO") == 0 || strcmp(word, "LHLO") == 0;
}

static int fail(const char *what, uint32_t rc) {
    fprintf(stderr, "ehlo_strip: %s: %s (%u)\n", what, postern_result_str(rc), (unsigned)rc);
    return 1;
}

int main(int argc, char **argv) {
    uint32_t flags = 0;
    size_t chunk = 0;
    const char *contexts = "EHLO";
    const char *remove = "STARTTLS";
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--lenient") == 0) {
            flags |= POSTERN_FLAG_LENIENT;
        } else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
            chunk = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
            contexts = argv[++i];
        } else if (strcmp(argv[i], "--remove") == 0 && i + 1 < argc) {
            remove = argv[++i];
        } else if (path == NULL) {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: ehlo_strip [--lenient] [--chunk N] [--context LIST] [--remove LIST] FILE\n");
        return 2;
    }
    uint8_t *input = NULL;
    size_t len = 0;
    if (read_file(path, &input, &len) != 0) {
        fprintf(stderr, "ehlo_strip: cannot read %s\n", path);
        return 2;
    }
    if (chunk == 0) {
        chunk = len > 0 ? len : 1;
    }

    postern_reply_parser *parser = NULL;
    uint32_t rc = postern_reply_parser_new(flags, &parser);
    if (rc != POSTERN_RESULT_OK) {
        free(input);
        return fail("postern_reply_parser_new", rc);
    }
    uint8_t *out = malloc(len + 1);
    size_t out_len = 0;
    size_t start = 0;     /* first byte of the reply being parsed */
    size_t visible = 0;   /* bytes "read" so far */
    size_t index = 0;     /* reply index */
    int status = 0;
    while (out != NULL && status == 0) {
        uint16_t code = 0;
        uint32_t lines = 0;
        size_t consumed = 0;
        rc = postern_reply_parser_parse(parser, input + start, visible - start, &code, &lines, &consumed);
        if (rc == POSTERN_RESULT_PARTIAL) {
            if (visible == len) {
                rc = postern_reply_parser_finish(parser, input + start, visible - start);
                if (rc != POSTERN_RESULT_OK) {
                    status = fail("end of input", rc);
                }
                break;
            }
            visible = visible + chunk < len ? visible + chunk : len;
            continue;
        }
        if (rc != POSTERN_RESULT_OK) {
            uint32_t line = 0;
            size_t offset = 0;
            if (postern_reply_parser_last_error(parser, &line, &offset) == POSTERN_RESULT_OK) {
                fprintf(stderr, "ehlo_strip: reply %zu, line %u, offset %zu\n", index, (unsigned)line, offset);
            }
            status = fail("parse", rc);
            break;
        }
        if (context_is_ehlo(contexts, index)) {
            size_t written = 0;
            size_t used = 0;
            rc = postern_ehlo_rewrite((const uint8_t *)remove, strlen(remove), flags, input + start, consumed,
                                      out + out_len, len + 1 - out_len, &written, &used);
            if (rc != POSTERN_RESULT_OK || used != consumed) {
                status = fail("rewrite", rc);
                break;
            }
            out_len += written;
        } else {
            memcpy(out + out_len, input + start, consumed);
            out_len += consumed;
        }
        start += consumed;
        index++;
    }
    if (out == NULL) {
        status = fail("out of memory", POSTERN_RESULT_OK);
    } else if (status == 0 && fwrite(out, 1, out_len, stdout) != out_len) {
        status = 2;
    }
    free(out);
    free(input);
    postern_reply_parser_free(parser);
    return status;
}
