/* C tests of the DKIM part of libpostern: sign then verify (streamed, typed and wire key
 * answers), the results and texts, and misuse (NULL, wrong ids, wrong order, bad keys and
 * parameters, short buffers, input after finish). Argument: an Ed25519 PKCS#8 PEM key file. */
#include <postern.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

static const char message[] =
    "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: hello\r\n\r\nHi Bob.\r\n\r\n";

/* Sign `message` and return the DKIM-Signature field (malloc'd) or NULL. */
static char *sign(const char *pem, size_t pem_len) {
    postern_dkim_signer *s = NULL;
    uint32_t rc = postern_dkim_signer_new((const uint8_t *)pem, pem_len, BYTES("example.com"), BYTES("s1"),
                                          BYTES("from:to:subject"), 1700000000u, 0, POSTERN_DKIM_OVERSIGN, &s);
    CHECK(rc == POSTERN_RESULT_OK);
    if (rc != POSTERN_RESULT_OK) return NULL;
    /* Streamed in pieces, a CRLF split across two of them. */
    CHECK(postern_dkim_signer_update(s, (const uint8_t *)message, 33) == POSTERN_RESULT_OK);
    CHECK(postern_dkim_signer_update(s, (const uint8_t *)message + 33, sizeof message - 1 - 33) == POSTERN_RESULT_OK);
    size_t len = 0;
    CHECK(postern_dkim_signer_finish(s, NULL, 0, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL && len > 100);
    char *field = malloc(len + 1);
    size_t len2 = 0;
    CHECK(field != NULL && postern_dkim_signer_finish(s, (uint8_t *)field, len, &len2) == POSTERN_RESULT_OK);
    CHECK(len2 == len);
    CHECK(postern_dkim_signer_update(s, BYTES("more")) == POSTERN_RESULT_INVALID_STATE);
    postern_dkim_signer_free(s);
    if (field != NULL) field[len] = '\0';
    return field;
}

/* Verify `signed_msg`, answering the key query with `record` (or TEMPFAIL when NULL). */
static uint32_t verify(const char *signed_msg, const char *record, char *ar, size_t ar_cap) {
    postern_dkim_verifier *v = NULL;
    CHECK(postern_dkim_verifier_new(1700086400u, 0, &v) == POSTERN_RESULT_OK);
    size_t total = strlen(signed_msg);
    size_t fed = 0;
    uint32_t result = 99;
    for (int i = 0; i < 10000; i++) {
        uint32_t step = 0;
        CHECK(postern_dkim_verifier_step(v, &step) == POSTERN_RESULT_OK);
        if (step == POSTERN_STEP_LOOKUP) {
            uint32_t id = 0;
            uint16_t qtype = 0;
            char name[128];
            size_t n = 0;
            CHECK(postern_dkim_verifier_query(v, &id, &qtype, (uint8_t *)name, sizeof name, &n) == POSTERN_RESULT_OK);
            CHECK(qtype == 16 && n == strlen("s1._domainkey.example.com") && memcmp(name, "s1._domainkey.example.com", n) == 0);
            CHECK(postern_dkim_verifier_supply_records(v, id + 7) == POSTERN_RESULT_INVALID_STATE);
            if (record == NULL) {
                CHECK(postern_dkim_verifier_supply_status(v, id, POSTERN_DNS_TEMPFAIL) == POSTERN_RESULT_OK);
            } else {
                CHECK(postern_dkim_verifier_add_record(v, id, (const uint8_t *)record, strlen(record)) == POSTERN_RESULT_OK);
                CHECK(postern_dkim_verifier_supply_records(v, id) == POSTERN_RESULT_OK);
            }
            CHECK(postern_dkim_verifier_supply_records(v, id) == POSTERN_RESULT_INVALID_STATE);
        } else if (step == POSTERN_STEP_NEED_INPUT) {
            size_t n = total - fed < 7 ? total - fed : 7;
            if (n == 0) {
                CHECK(postern_dkim_verifier_finish(v) == POSTERN_RESULT_OK);
            } else {
                CHECK(postern_dkim_verifier_update(v, (const uint8_t *)signed_msg + fed, n) == POSTERN_RESULT_OK);
                fed += n;
            }
        } else if (step == POSTERN_STEP_DONE) {
            size_t count = 0;
            bool testing = true;
            CHECK(postern_dkim_verifier_signature_count(v, &count) == POSTERN_RESULT_OK && count == 1);
            CHECK(postern_dkim_verifier_signature_result(v, 0, &result, &testing) == POSTERN_RESULT_OK && !testing);
            CHECK(postern_dkim_verifier_signature_result(v, 1, &result, &testing) == POSTERN_RESULT_INVALID_ARGUMENT);
            size_t n = 0;
            CHECK(postern_dkim_verifier_authentication_results(v, (uint8_t *)ar, ar_cap - 1, &n) == POSTERN_RESULT_OK);
            ar[n] = '\0';
            char d[64];
            CHECK(postern_dkim_verifier_signature_text(v, 0, POSTERN_DKIM_TEXT_DOMAIN, (uint8_t *)d, sizeof d, &n) ==
                      POSTERN_RESULT_OK && n == 11 && memcmp(d, "example.com", 11) == 0);
            CHECK(postern_dkim_verifier_signature_text(v, 0, POSTERN_DKIM_TEXT_SIGNATURE, (uint8_t *)d, 2, &n) ==
                  POSTERN_RESULT_BUFFER_TOO_SMALL && n > 40);
            CHECK(postern_dkim_verifier_signature_text(v, 0, 77, (uint8_t *)d, sizeof d, &n) == POSTERN_RESULT_INVALID_ARGUMENT);
            /* Input after the end is a state error; stepping again gives the same end. */
            CHECK(postern_dkim_verifier_update(v, BYTES("x")) == POSTERN_RESULT_INVALID_STATE);
            CHECK(postern_dkim_verifier_finish(v) == POSTERN_RESULT_INVALID_STATE);
            CHECK(postern_dkim_verifier_step(v, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_DONE);
            break;
        } else {
            CHECK(0 && "unexpected step");
            break;
        }
    }
    postern_dkim_verifier_free(v);
    return result;
}

static void test_misuse(const char *pem, size_t pem_len) {
    postern_dkim_verifier *v = NULL;
    CHECK(postern_dkim_verifier_new(0, 0x80, &v) == POSTERN_RESULT_INVALID_ARGUMENT && v == NULL);
    CHECK(postern_dkim_verifier_new(0, 0, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_dkim_verifier_new(0, POSTERN_DKIM_CONVERT_BARE_LF, &v) == POSTERN_RESULT_OK);
    size_t count = 0;
    uint32_t id = 0;
    uint16_t qtype = 0;
    size_t n = 0;
    CHECK(postern_dkim_verifier_signature_count(v, &count) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_dkim_verifier_query(v, &id, &qtype, NULL, 0, &n) == POSTERN_RESULT_INVALID_STATE);
    CHECK(postern_dkim_verifier_update(v, NULL, 3) == POSTERN_RESULT_NULL);
    CHECK(postern_dkim_verifier_update(v, (const uint8_t *)"x", SIZE_MAX) == POSTERN_RESULT_TOO_LARGE);
    CHECK(postern_dkim_verifier_update(NULL, BYTES("x")) == POSTERN_RESULT_NULL);
    /* An unsigned message with bare LF line ends: dkim=none. */
    CHECK(postern_dkim_verifier_update(v, BYTES("From: a@example.com\nSubject: x\n\nbody\n")) == POSTERN_RESULT_OK);
    CHECK(postern_dkim_verifier_finish(v) == POSTERN_RESULT_OK);
    uint32_t step = 0;
    CHECK(postern_dkim_verifier_step(v, &step) == POSTERN_RESULT_OK && step == POSTERN_STEP_DONE);
    CHECK(postern_dkim_verifier_signature_count(v, &count) == POSTERN_RESULT_OK && count == 0);
    char ar[64];
    CHECK(postern_dkim_verifier_authentication_results(v, (uint8_t *)ar, sizeof ar, &n) == POSTERN_RESULT_OK &&
          n == 9 && memcmp(ar, "dkim=none", 9) == 0);
    postern_dkim_verifier_free(v);
    postern_dkim_verifier_free(NULL);

    /* A header block over the limit. */
    CHECK(postern_dkim_verifier_new(0, 0, &v) == POSTERN_RESULT_OK);
    static char big[2 * 1024 * 1024];
    memset(big, 'a', sizeof big);
    memcpy(big, "X-Big: ", 7);
    CHECK(postern_dkim_verifier_update(v, (const uint8_t *)big, sizeof big) == POSTERN_RESULT_DKIM_HEADER_TOO_LARGE);
    postern_dkim_verifier_free(v);

    postern_dkim_signer *s = NULL;
    CHECK(postern_dkim_signer_new(BYTES("not a key"), BYTES("example.com"), BYTES("s1"), NULL, 0, 0, 0, 0, &s) ==
          POSTERN_RESULT_DKIM_PRIVATE_KEY && s == NULL);
    CHECK(postern_dkim_signer_new((const uint8_t *)pem, pem_len, BYTES("exa mple.com"), BYTES("s1"), NULL, 0, 0, 0, 0,
                                  &s) == POSTERN_RESULT_DKIM_SIGN_PARAMETER);
    CHECK(postern_dkim_signer_new((const uint8_t *)pem, pem_len, BYTES("example.com"), BYTES("s\xff"), NULL, 0, 0, 0,
                                  0, &s) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_dkim_signer_new((const uint8_t *)pem, pem_len, BYTES("example.com"), BYTES("s1"), NULL, 0, 0, 0,
                                  0x4000, &s) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_dkim_signer_new((const uint8_t *)pem, pem_len, BYTES("example.com"), BYTES("s1"), NULL, 0, 0, 0, 0,
                                  NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_dkim_signer_update(NULL, BYTES("x")) == POSTERN_RESULT_NULL);
    postern_dkim_signer_free(NULL);
    CHECK(strcmp(postern_dkim_result_str(POSTERN_DKIM_POLICY), "policy") == 0);
    CHECK(postern_dkim_result_str(42) == NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_dkim ED25519-PKCS8-PEM PUBLIC-KEY-B64\n");
        return 2;
    }
    static char pem[8192];
    static char pub[256];
    FILE *f = fopen(argv[1], "rb");
    size_t pem_len = f == NULL ? 0 : fread(pem, 1, sizeof pem - 1, f);
    if (f != NULL) fclose(f);
    f = fopen(argv[2], "rb");
    size_t pub_len = f == NULL ? 0 : fread(pub, 1, sizeof pub - 1, f);
    if (f != NULL) fclose(f);
    while (pub_len > 0 && (pub[pub_len - 1] == '\n' || pub[pub_len - 1] == '\r')) pub_len--;
    pub[pub_len] = '\0';
    if (pem_len == 0 || pub_len == 0) {
        fprintf(stderr, "cannot read the key files\n");
        return 2;
    }

    char *field = sign(pem, pem_len);
    if (field != NULL) {
        size_t flen = strlen(field);
        char *signed_msg = malloc(flen + sizeof message);
        if (signed_msg != NULL) {
            memcpy(signed_msg, field, flen);
            memcpy(signed_msg + flen, message, sizeof message);
            char record[512];
            snprintf(record, sizeof record, "v=DKIM1; k=ed25519; p=%s", pub);
            char ar[1024];
            CHECK(verify(signed_msg, record, ar, sizeof ar) == POSTERN_DKIM_PASS);
            CHECK(strncmp(ar, "dkim=pass header.d=example.com", 30) == 0);
            CHECK(verify(signed_msg, NULL, ar, sizeof ar) == POSTERN_DKIM_TEMPERROR);
            signed_msg[flen + sizeof message - 5] = 'X'; /* tamper with the body */
            CHECK(verify(signed_msg, record, ar, sizeof ar) == POSTERN_DKIM_FAIL);
            free(signed_msg);
        }
        free(field);
    }
    test_misuse(pem, pem_len);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
