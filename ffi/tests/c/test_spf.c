/* C tests of the SPF part of libpostern: the step loop with typed answers, statuses and raw
 * DNS packets, outcome texts, and misuse (NULL, invalid UTF-8, bad addresses, wrong ids,
 * wrong order, short buffers, oversized lengths). */
#include <postern.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define BYTES(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static postern_spf_eval *start(const char *ip, const char *sender, uint32_t flags) {
    postern_spf_eval *e = NULL;
    uint32_t rc = postern_spf_eval_new((const uint8_t *)ip, strlen(ip), BYTES("mail.example.org"),
                                       (const uint8_t *)sender, strlen(sender), BYTES("mx.example.net"),
                                       1700000000u, flags, &e);
    CHECK(rc == POSTERN_RESULT_OK && e != NULL);
    return e;
}

/* Turn the query packet into a response with one TXT answer holding `txt` (a compression
 * pointer to the question name). */
static size_t make_response(const uint8_t *query, size_t qlen, const char *txt, uint8_t *out) {
    memcpy(out, query, qlen);
    out[2] |= 0x80;            /* QR: response */
    out[3] = 0x80;             /* RA, RCODE 0 */
    out[7] = 1;                /* ANCOUNT = 1 */
    size_t n = qlen;
    size_t tlen = strlen(txt);
    const uint8_t rr[] = {0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10};
    memcpy(out + n, rr, sizeof rr);
    n += sizeof rr;
    out[n++] = 0;
    out[n++] = (uint8_t)(tlen + 1);
    out[n++] = (uint8_t)tlen;
    memcpy(out + n, txt, tlen);
    return n + tlen;
}

static void test_wire_answers_and_texts(void) {
    postern_spf_eval *e = start("192.0.2.10", "alice@example.com", 0);
    uint32_t step = 0;
    CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_LOOKUP);
    uint32_t id = 0;
    uint16_t qtype = 0;
    uint8_t name[64];
    size_t name_len = 0;
    /* Short name buffer: the size needed, nothing else written. */
    CHECK(postern_spf_eval_query(e, &id, &qtype, name, 3, &name_len) == POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(name_len == 11 && id == 0 && qtype == 0);
    CHECK(postern_spf_eval_query(e, &id, &qtype, name, sizeof name, &name_len) == POSTERN_RESULT_OK);
    CHECK(qtype == 16 && name_len == 11 && memcmp(name, "example.com", 11) == 0);

    uint8_t packet[512];
    size_t plen = 0;
    CHECK(postern_spf_eval_query_wire(e, 0x1234, packet, 10, &plen) == POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(postern_spf_eval_query_wire(e, 0x1234, packet, sizeof packet, &plen) == POSTERN_RESULT_OK);
    CHECK(plen > 12 && packet[0] == 0x12 && packet[1] == 0x34);
    uint8_t response[600];
    size_t rlen = make_response(packet, plen, "v=spf1 ip4:192.0.2.0/24 -all exp=why.example.com", response);
    /* A truncated packet, a wrong id, then the real answer. */
    CHECK(postern_spf_eval_supply_wire(e, id, response, 12) != POSTERN_RESULT_OK);
    CHECK(postern_spf_eval_supply_wire(e, id + 1, response, rlen) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_spf_eval_supply_wire(e, id, response, rlen) == POSTERN_RESULT_OK);
    /* Answering twice is a state error. */
    CHECK(postern_spf_eval_supply_wire(e, id, response, rlen) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_DONE);

    uint32_t result = 0;
    uint32_t dns = 9;
    uint32_t voids = 9;
    CHECK(postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_OK);
    CHECK(result == POSTERN_SPF_PASS && dns == 0 && voids == 0);
    CHECK(strcmp(postern_spf_result_str(result), "pass") == 0);
    CHECK(postern_spf_result_str(77) == NULL);

    char text[512];
    size_t n = 0;
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_AUTHENTICATION_RESULTS, (uint8_t *)text, sizeof text, &n) ==
          POSTERN_RESULT_OK);
    CHECK(n == strlen("spf=pass smtp.mailfrom=alice@example.com") &&
          memcmp(text, "spf=pass smtp.mailfrom=alice@example.com", n) == 0);
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_RECEIVED_SPF, (uint8_t *)text, 4, &n) ==
          POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(n > 4);
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_RECEIVED_SPF, (uint8_t *)text, sizeof text, &n) ==
          POSTERN_RESULT_OK);
    CHECK(n > 4 && memcmp(text, "pass", 4) == 0);
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_MECHANISM, (uint8_t *)text, sizeof text, &n) == POSTERN_RESULT_OK);
    CHECK(n == strlen("ip4:192.0.2.0/24") && memcmp(text, "ip4:192.0.2.0/24", n) == 0);
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_EXPLANATION, NULL, 0, &n) == POSTERN_RESULT_OK && n == 0);
    CHECK(postern_spf_eval_text(e, 42, (uint8_t *)text, sizeof text, &n) == POSTERN_RESULT_INVALID_ARGUMENT);
    /* Stepping after the end gives the end again. */
    CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_DONE);
    postern_spf_eval_free(e);
}

static void test_typed_answers_and_fail_with_explanation(void) {
    postern_spf_eval *e = start("198.51.100.1", "bob@example.com", 0);
    const char *answers[] = {"v=spf1 mx -all exp=why.example.com", "10 mx.example.com", NULL, "%{i} is not allowed"};
    int turn = 0;
    for (int i = 0; i < 10; i++) {
        uint32_t step = 0;
        CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK);
        if (step == POSTERN_STEP_DONE) break;
        uint32_t id = 0;
        uint16_t qtype = 0;
        uint8_t name[256];
        size_t len = 0;
        CHECK(postern_spf_eval_query(e, &id, &qtype, name, sizeof name, &len) == POSTERN_RESULT_OK);
        if (qtype == 1) {
            static const uint8_t addr[4] = {192, 0, 2, 25};
            CHECK(postern_spf_eval_add_record(e, id, addr, 3) == POSTERN_RESULT_INVALID_ARGUMENT);
            CHECK(postern_spf_eval_add_record(e, id, addr, 4) == POSTERN_RESULT_OK);
            CHECK(postern_spf_eval_supply_records(e, id) == POSTERN_RESULT_OK);
        } else if (qtype == 28) {
            CHECK(postern_spf_eval_supply_records(e, id) == POSTERN_RESULT_OK); /* none: NODATA */
        } else {
            const char *a = answers[turn++ % 4];
            if (a == NULL) a = answers[turn++ % 4];
            if (qtype == 15) {
                CHECK(postern_spf_eval_add_record(e, id, BYTES("ten mx.example.com")) == POSTERN_RESULT_INVALID_ARGUMENT);
            }
            CHECK(postern_spf_eval_add_record(e, id, (const uint8_t *)a, strlen(a)) == POSTERN_RESULT_OK);
            CHECK(postern_spf_eval_supply_records(e, id) == POSTERN_RESULT_OK);
        }
    }
    uint32_t result = 0;
    uint32_t dns = 0;
    uint32_t voids = 0;
    CHECK(postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_OK && result == POSTERN_SPF_FAIL);
    char text[256];
    size_t n = 0;
    CHECK(postern_spf_eval_text(e, POSTERN_SPF_TEXT_EXPLANATION, (uint8_t *)text, sizeof text, &n) == POSTERN_RESULT_OK);
    CHECK(n == strlen("198.51.100.1 is not allowed") && memcmp(text, "198.51.100.1 is not allowed", n) == 0);
    postern_spf_eval_free(e);
}

static void test_misuse(void) {
    postern_spf_eval *e = NULL;
    CHECK(postern_spf_eval_new(BYTES("not-an-ip"), BYTES("h"), NULL, 0, NULL, 0, 0, 0, &e) ==
          POSTERN_RESULT_INVALID_ARGUMENT && e == NULL);
    CHECK(postern_spf_eval_new(BYTES("192.0.2.1"), BYTES("h\xff"), NULL, 0, NULL, 0, 0, 0, &e) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_spf_eval_new(BYTES("192.0.2.1"), BYTES("h"), NULL, 0, NULL, 0, 0, 0x10, &e) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_spf_eval_new(NULL, 4, BYTES("h"), NULL, 0, NULL, 0, 0, 0, &e) == POSTERN_RESULT_NULL);
    CHECK(postern_spf_eval_new(BYTES("192.0.2.1"), (const uint8_t *)"h", SIZE_MAX, NULL, 0, NULL, 0, 0, 0, &e) ==
          POSTERN_RESULT_TOO_LARGE);
    CHECK(postern_spf_eval_new(BYTES("192.0.2.1"), BYTES("h"), NULL, 0, NULL, 0, 0, 0, NULL) == POSTERN_RESULT_NULL);

    e = start("2001:db8::1", "", POSTERN_SPF_HELO);
    uint32_t step = 0;
    uint32_t id = 0;
    uint16_t qtype = 0;
    size_t len = 0;
    uint32_t result = 0;
    uint32_t dns = 0;
    uint32_t voids = 0;
    /* Before the first step: nothing pending, no outcome. */
    CHECK(postern_spf_eval_query(e, &id, &qtype, NULL, 0, &len) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_spf_eval_supply_status(e, 1, POSTERN_DNS_NXDOMAIN) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_spf_eval_step(NULL, &step) == POSTERN_RESULT_NULL);
    CHECK(postern_spf_eval_step(e, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_LOOKUP);
    CHECK(postern_spf_eval_query(e, &id, &qtype, NULL, 0, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(id == 0 && len == strlen("mail.example.org"));
    uint8_t name[64];
    CHECK(postern_spf_eval_query(e, &id, &qtype, name, sizeof name, &len) == POSTERN_RESULT_OK && id != 0);
    CHECK(postern_spf_eval_supply_status(e, id, 0) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_spf_eval_add_record(e, id, NULL, 5) == POSTERN_RESULT_NULL);
    CHECK(postern_spf_eval_supply_wire(e, id, NULL, 5) == POSTERN_RESULT_NULL);
    CHECK(postern_spf_eval_supply_status(e, id, POSTERN_DNS_NXDOMAIN) == POSTERN_RESULT_OK);
    CHECK(postern_spf_eval_step(e, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_DONE);
    CHECK(postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_OK && result == POSTERN_SPF_NONE);
    CHECK(postern_spf_eval_add_record(e, id, BYTES("x")) == POSTERN_RESULT_INVALID_STATE);
    postern_spf_eval_free(e);
    postern_spf_eval_free(NULL);
}

int main(void) {
    test_wire_answers_and_texts();
    test_typed_answers_and_fail_with_explanation();
    test_misuse();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
