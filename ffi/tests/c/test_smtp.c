/* C tests of the SMTP part of libpostern: every entry point, including misuse (NULL
 * pointers, short buffers, use after an error, bad flags and keyword lists, oversized
 * lengths). Built with -Werror and run under ASan/UBSan and valgrind by .ci/c-tests.sh. */
#include <postern.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define BYTES(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static void test_version_and_result_names(void) {
    CHECK(postern_version_number() ==
          POSTERN_VERSION_MAJOR * 10000u + POSTERN_VERSION_MINOR * 100u + POSTERN_VERSION_PATCH);
    CHECK(strcmp(postern_result_str(POSTERN_RESULT_OK), "ok") == 0);
    CHECK(strcmp(postern_result_str(POSTERN_RESULT_SMTP_BARE_LF), "smtp: bare LF") == 0);
    CHECK(strcmp(postern_result_str(123456u), "unknown result") == 0);
}

static void test_reply_parser(void) {
    postern_reply_parser *p = NULL;
    CHECK(postern_reply_parser_new(0, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_new(0x100, &p) == POSTERN_RESULT_INVALID_ARGUMENT && p == NULL);
    CHECK(postern_reply_parser_new(0, &p) == POSTERN_RESULT_OK && p != NULL);

    static const char reply[] = "250-mx.example.net\r\n250-STARTTLS\r\n250 8BITMIME\r\nNEXT";
    uint16_t code = 0;
    uint32_t lines = 0;
    size_t consumed = 0;
    /* Resumable: every prefix is partial and leaves the out-parameters alone. */
    for (size_t n = 0; n < 48; n++) {
        CHECK(postern_reply_parser_parse(p, (const uint8_t *)reply, n, &code, &lines, &consumed) ==
              POSTERN_RESULT_PARTIAL);
    }
    CHECK(code == 0 && lines == 0 && consumed == 0);
    CHECK(postern_reply_parser_parse(p, BYTES(reply), &code, &lines, &consumed) == POSTERN_RESULT_OK);
    CHECK(code == 250 && lines == 3 && consumed == 48);

    /* NULL handle, input and out-parameters. */
    CHECK(postern_reply_parser_parse(NULL, BYTES(reply), &code, &lines, &consumed) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_parse(p, NULL, 5, &code, &lines, &consumed) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_parse(p, BYTES(reply), NULL, &lines, &consumed) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_parse(p, BYTES(reply), &code, NULL, &consumed) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_parse(p, BYTES(reply), &code, &lines, NULL) == POSTERN_RESULT_NULL);
    /* An oversized length is refused before the pointer is read. */
    CHECK(postern_reply_parser_parse(p, (const uint8_t *)reply, SIZE_MAX, &code, &lines, &consumed) ==
          POSTERN_RESULT_TOO_LARGE);

    /* Errors, their position, and recovery for the next reply. */
    uint32_t line = 0;
    size_t offset = 0;
    CHECK(postern_reply_parser_last_error(p, &line, &offset) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_reply_parser_parse(p, BYTES("250-a\r\n251 b\r\n"), &code, &lines, &consumed) ==
          POSTERN_RESULT_SMTP_CODE_MISMATCH);
    CHECK(postern_reply_parser_last_error(p, &line, &offset) == POSTERN_RESULT_OK && line == 2 && offset == 9);
    CHECK(postern_reply_parser_last_error(p, NULL, &offset) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_last_error(NULL, &line, &offset) == POSTERN_RESULT_NULL);
    CHECK(postern_reply_parser_parse(p, BYTES("250-a\nb"), &code, &lines, &consumed) == POSTERN_RESULT_SMTP_BARE_LF);
    CHECK(postern_reply_parser_parse(p, BYTES("250 a\rb"), &code, &lines, &consumed) == POSTERN_RESULT_SMTP_BARE_CR);
    CHECK(postern_reply_parser_parse(p, BYTES("600 x\r\n"), &code, &lines, &consumed) == POSTERN_RESULT_SMTP_BAD_CODE);
    CHECK(postern_reply_parser_parse(p, BYTES("250+x\r\n"), &code, &lines, &consumed) ==
          POSTERN_RESULT_SMTP_BAD_SEPARATOR);
    uint8_t long_line[600];
    memset(long_line, 'x', sizeof long_line);
    memcpy(long_line, "250 ", 4);
    CHECK(postern_reply_parser_parse(p, long_line, sizeof long_line, &code, &lines, &consumed) ==
          POSTERN_RESULT_SMTP_LINE_TOO_LONG);
    CHECK(postern_reply_parser_parse(p, BYTES("221 bye\r\n"), &code, &lines, &consumed) == POSTERN_RESULT_OK);
    CHECK(code == 221);

    /* End of stream: empty is fine, a partial reply is truncated; finishing twice is fine. */
    CHECK(postern_reply_parser_finish(p, NULL, 0) == POSTERN_RESULT_OK);
    CHECK(postern_reply_parser_finish(p, BYTES("250-a\r\n")) == POSTERN_RESULT_SMTP_TRUNCATED);
    CHECK(postern_reply_parser_finish(p, BYTES("250-a\r\n")) == POSTERN_RESULT_SMTP_TRUNCATED);
    CHECK(postern_reply_parser_finish(NULL, NULL, 0) == POSTERN_RESULT_NULL);
    postern_reply_parser_free(p);
    postern_reply_parser_free(NULL);

    /* Lenient mode keeps bare LF. */
    CHECK(postern_reply_parser_new(POSTERN_FLAG_LENIENT, &p) == POSTERN_RESULT_OK);
    CHECK(postern_reply_parser_parse(p, BYTES("250-a\n250 b\n"), &code, &lines, &consumed) == POSTERN_RESULT_OK);
    CHECK(lines == 2 && consumed == 12);
    postern_reply_parser_free(p);
}

static void test_ehlo_rewrite_and_has(void) {
    static const char reply[] = "250-mx\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 SIZE 10\r\n";
    uint8_t out[128];
    size_t out_len = 0;
    size_t consumed = 0;
    CHECK(postern_ehlo_rewrite(BYTES("starttls, auth"), 0, BYTES(reply), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_OK);
    CHECK(out_len == 21 && consumed == sizeof reply - 1 && memcmp(out, "250-mx\r\n250 SIZE 10\r\n", 21) == 0);

    /* Short buffer: the size needed is reported, consumed untouched. */
    consumed = 77;
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES(reply), out, 4, &out_len, &consumed) ==
          POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(out_len == 37 && consumed == 77);
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES(reply), NULL, 0, &out_len, &consumed) ==
          POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES(reply), NULL, 64, &out_len, &consumed) ==
          POSTERN_RESULT_NULL);
    /* Partial and invalid input, bad keyword lists (non-ASCII, '='), unknown flags. */
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES("250-mx\r\n"), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_PARTIAL);
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES("250-mx\n"), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_SMTP_BARE_LF);
    CHECK(postern_ehlo_rewrite(BYTES("START\xc3\xa9"), 0, BYTES(reply), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_ehlo_rewrite(BYTES("AUTH=PLAIN"), 0, BYTES(reply), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 8, BYTES(reply), out, sizeof out, &out_len, &consumed) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_ehlo_rewrite(NULL, 3, 0, BYTES(reply), out, sizeof out, &out_len, &consumed) == POSTERN_RESULT_NULL);
    CHECK(postern_ehlo_rewrite(BYTES("STARTTLS"), 0, BYTES(reply), out, sizeof out, NULL, &consumed) ==
          POSTERN_RESULT_NULL);

    bool has = false;
    CHECK(postern_ehlo_has(0, BYTES(reply), BYTES("starttls"), &has) == POSTERN_RESULT_OK && has);
    CHECK(postern_ehlo_has(0, BYTES(reply), BYTES("CHUNKING"), &has) == POSTERN_RESULT_OK && !has);
    CHECK(postern_ehlo_has(0, BYTES("502 5.5.2 STARTTLS\r\n"), BYTES("STARTTLS"), &has) == POSTERN_RESULT_OK && !has);
    CHECK(postern_ehlo_has(0, BYTES("250-mx\r\n"), BYTES("STARTTLS"), &has) == POSTERN_RESULT_PARTIAL);
    CHECK(postern_ehlo_has(0, BYTES(reply), BYTES("STARTTLS"), NULL) == POSTERN_RESULT_NULL);
}

static size_t take_all(postern_proxy *p, int to_server, char *dst, size_t cap) {
    size_t total = 0;
    for (;;) {
        size_t n = 0;
        uint8_t buf[7];
        uint32_t rc = to_server ? postern_proxy_take_to_server(p, buf, sizeof buf, &n)
                                : postern_proxy_take_to_client(p, buf, sizeof buf, &n);
        CHECK(rc == POSTERN_RESULT_OK);
        if (rc != POSTERN_RESULT_OK || n == 0 || total + n >= cap) {
            break;
        }
        memcpy(dst + total, buf, n);
        total += n;
    }
    dst[total] = '\0';
    return total;
}

static void test_proxy(void) {
    postern_proxy *p = NULL;
    CHECK(postern_proxy_new(BYTES("STARTTLS"), 0x40, &p) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_proxy_new(BYTES("STARTTLS"), 0, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_proxy_new(BYTES("STARTTLS,CHUNKING"), 0, &p) == POSTERN_RESULT_OK);

    char up[512];
    char down[512];
    CHECK(postern_proxy_from_server(p, BYTES("220 mx ESMTP\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_pending_to_client(p) == 14);
    CHECK(postern_proxy_from_client(p, BYTES("EHLO c\r\nSTARTTLS\r\nBDAT 3 LAST\r\nabcNOOP\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_pending_to_server(p) == 14);
    CHECK(postern_proxy_from_server(p, BYTES("250-mx\r\n250-STARTTLS\r\n250 CHUNKING\r\n")) == POSTERN_RESULT_OK);
    take_all(p, 1, up, sizeof up);
    take_all(p, 0, down, sizeof down);
    CHECK(strcmp(up, "EHLO c\r\nNOOP\r\n") == 0);
    CHECK(strcmp(down,
                 "220 mx ESMTP\r\n250 mx\r\n502 5.5.1 Error: command not implemented\r\n"
                 "502 5.5.1 Error: command not implemented\r\n") == 0);

    uint32_t state = 99;
    uint64_t ic = 9;
    uint64_t is = 9;
    CHECK(postern_proxy_state(p, &state, &ic, &is) == POSTERN_RESULT_OK);
    CHECK(state == POSTERN_PROXY_PLAINTEXT && ic == 0 && is == 0);
    CHECK(postern_proxy_state(p, NULL, &ic, &is) == POSTERN_RESULT_NULL);
    CHECK(postern_proxy_state(NULL, &state, &ic, &is) == POSTERN_RESULT_NULL);

    /* Misuse: NULL handle or buffers, taking into NULL, oversized lengths. */
    size_t n = 5;
    CHECK(postern_proxy_from_client(NULL, BYTES("x")) == POSTERN_RESULT_NULL);
    CHECK(postern_proxy_from_client(p, NULL, 1) == POSTERN_RESULT_NULL);
    CHECK(postern_proxy_from_client(p, (const uint8_t *)"x", SIZE_MAX) == POSTERN_RESULT_TOO_LARGE);
    CHECK(postern_proxy_take_to_client(p, NULL, 10, &n) == POSTERN_RESULT_NULL && n == 5);
    CHECK(postern_proxy_take_to_client(p, NULL, 0, &n) == POSTERN_RESULT_OK && n == 0);
    CHECK(postern_proxy_take_to_server(p, (uint8_t *)up, sizeof up, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_proxy_pending_to_client(NULL) == 0 && postern_proxy_pending_to_server(NULL) == 0);

    /* A server protocol error poisons the handle. */
    CHECK(postern_proxy_from_server(p, BYTES("250 ok\r\n999\r\n")) == POSTERN_RESULT_SMTP_BAD_CODE);
    CHECK(postern_proxy_from_server(p, BYTES("250 ok\r\n")) == POSTERN_RESULT_INVALID_STATE);
    postern_proxy_free(p);
    postern_proxy_free(NULL);

    /* STARTTLS allowed: plaintext injected before the 220 is discarded and counted. */
    CHECK(postern_proxy_new(NULL, 0, POSTERN_FLAG_NO_GREETING, &p) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_client(p, BYTES("STARTTLS\r\nMAIL FROM:<x>\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_server(p, BYTES("220 go ahead\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_client(p, BYTES("\x16\x03\x01")) == POSTERN_RESULT_OK);
    take_all(p, 1, up, sizeof up);
    CHECK(memcmp(up, "STARTTLS\r\n\x16\x03\x01", 13) == 0);
    CHECK(postern_proxy_state(p, &state, &ic, &is) == POSTERN_RESULT_OK);
    CHECK(state == POSTERN_PROXY_TLS && ic == 15 && is == 0);
    postern_proxy_free(p);
}

int main(void) {
    test_version_and_result_names();
    test_reply_parser();
    test_ehlo_rewrite_and_has();
    test_proxy();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
