/* Runs a DKIM verification corpus through libpostern: each message streamed in small
 * chunks, key queries answered with typed TXT records (or a temporary failure) as soon as the
 * verifier asks. Input (made from the corpus manifests by .ci/c-tests.sh), one item per line:
 *   M PATH NOW          a message file and the verification time
 *   K NAME-HEX VALUE    a key record (VALUE hex, - if empty, or TEMPFAIL); others NXDOMAIN
 *   E RESULTS           an expected signature, top first: acceptable results, comma-separated
 *   X                   run the case
 * Prints one line per failure and a closing "N passed, N failed". */
#include <postern.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 16
#define MAX_SIGS 16
#define CHUNK 61

struct key {
    char name[256];
    char value[8192];
    size_t len;
    int tempfail;
};

static struct key keys[MAX_KEYS];
static size_t nkeys = 0;
static char expected[MAX_SIGS][128];
static size_t nexpected = 0;

static int unhex(const char *hex, char *out, size_t cap, size_t *len) {
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 >= cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int b = 0;
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) return -1;
        out[i] = (char)b;
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return 0;
}

static int same_name(const char *a, const char *b) {
    if (strlen(a) != strlen(b)) return 0;
    for (; *a != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    }
    return 1;
}

static uint32_t answer(postern_dkim_verifier *v) {
    uint32_t id = 0;
    uint16_t qtype = 0;
    char name[300];
    size_t len = 0;
    uint32_t rc = postern_dkim_verifier_query(v, &id, &qtype, (uint8_t *)name, sizeof name - 1, &len);
    if (rc != POSTERN_RESULT_OK) return rc;
    name[len] = '\0';
    for (size_t i = 0; i < nkeys; i++) {
        if (!same_name(keys[i].name, name)) continue;
        if (keys[i].tempfail) return postern_dkim_verifier_supply_status(v, id, POSTERN_DNS_TEMPFAIL);
        rc = postern_dkim_verifier_add_record(v, id, (const uint8_t *)keys[i].value, keys[i].len);
        return rc != POSTERN_RESULT_OK ? rc : postern_dkim_verifier_supply_records(v, id);
    }
    return postern_dkim_verifier_supply_status(v, id, POSTERN_DNS_NXDOMAIN);
}

static int run_case(const char *path, unsigned long long now) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        printf("FAIL %s: cannot open\n", path);
        return 0;
    }
    postern_dkim_verifier *v = NULL;
    uint32_t rc = postern_dkim_verifier_new((uint64_t)now, 0, &v);
    int done = 0;
    int eof = 0;
    for (int steps = 0; rc == POSTERN_RESULT_OK && !done && steps < 10000000; steps++) {
        uint32_t step = 0;
        rc = postern_dkim_verifier_step(v, &step);
        if (rc != POSTERN_RESULT_OK) break;
        if (step == POSTERN_STEP_LOOKUP) {
            rc = answer(v);
        } else if (step == POSTERN_STEP_NEED_INPUT) {
            uint8_t buf[CHUNK];
            size_t n = eof ? 0 : fread(buf, 1, sizeof buf, f);
            if (n > 0) {
                rc = postern_dkim_verifier_update(v, buf, n);
            } else {
                eof = 1;
                rc = postern_dkim_verifier_finish(v);
            }
        } else if (step == POSTERN_STEP_DONE) {
            done = 1;
        } else {
            rc = POSTERN_RESULT_INVALID_STATE; /* every query is answered at once here */
        }
    }
    fclose(f);
    int ok = done;
    size_t count = 0;
    if (ok && postern_dkim_verifier_signature_count(v, &count) == POSTERN_RESULT_OK && count == nexpected) {
        for (size_t i = 0; i < count; i++) {
            uint32_t result = 0;
            bool testing = false;
            if (postern_dkim_verifier_signature_result(v, i, &result, &testing) != POSTERN_RESULT_OK) {
                ok = 0;
                break;
            }
            const char *got = postern_dkim_result_str(result);
            char list[128];
            snprintf(list, sizeof list, "%s", expected[i]);
            int match = 0;
            for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
                if (got != NULL && strcmp(tok, got) == 0) match = 1;
            }
            if (!match) {
                printf("FAIL %s: signature %zu is %s, want %s\n", path, i, got, expected[i]);
                ok = 0;
            }
        }
        char ar[4096];
        size_t n = 0;
        if (postern_dkim_verifier_authentication_results(v, (uint8_t *)ar, sizeof ar, &n) != POSTERN_RESULT_OK ||
            n < 9 || memcmp(ar, "dkim=", 5) != 0) {
            printf("FAIL %s: Authentication-Results\n", path);
            ok = 0;
        }
    } else {
        printf("FAIL %s: %s, %zu signatures (want %zu)\n", path, postern_result_str(rc), count, nexpected);
        ok = 0;
    }
    postern_dkim_verifier_free(v);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: dkim_corpus FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) return 2;
    static char line[40000];
    char path[4096] = "";
    unsigned long long now = 0;
    int passed = 0;
    int failed = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == 'M' && sscanf(line, "M %4095s %llu", path, &now) == 2) {
            nkeys = 0;
            nexpected = 0;
        } else if (line[0] == 'K' && nkeys < MAX_KEYS) {
            char hexname[600];
            static char value[20000];
            size_t len = 0;
            if (sscanf(line, "K %599s %19999s", hexname, value) != 2 ||
                unhex(hexname, keys[nkeys].name, sizeof keys[nkeys].name, &len) != 0) {
                fprintf(stderr, "bad key line\n");
                return 2;
            }
            keys[nkeys].tempfail = strcmp(value, "TEMPFAIL") == 0;
            keys[nkeys].len = 0;
            if (!keys[nkeys].tempfail && strcmp(value, "-") != 0 && unhex(value, keys[nkeys].value, sizeof keys[nkeys].value, &keys[nkeys].len) != 0) {
                fprintf(stderr, "bad key value\n");
                return 2;
            }
            nkeys++;
        } else if (line[0] == 'E' && nexpected < MAX_SIGS) {
            snprintf(expected[nexpected++], sizeof expected[0], "%s", line + 2);
        } else if (line[0] == 'X') {
            if (run_case(path, now)) passed++; else failed++;
        } else {
            fprintf(stderr, "bad line: %.40s\n", line);
            return 2;
        }
    }
    fclose(f);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
