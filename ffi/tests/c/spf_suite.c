/* Runs an SPF conformance suite through libpostern's step loop, answering every query with
 * typed records from the suite's zone. Input (made from the OpenSPF YAML by .ci/c-tests.sh),
 * one item per line, strings hex-encoded:
 *   S                                   a new scenario: forget the zone
 *   Z NAME TYPE VALUE                   a zone entry (TYPE TIMEOUT has VALUE "-")
 *   Q ID IP HELO MAILFROM RESULTS EXPL  a check: RESULTS is a comma list, EXPL "-" if none
 * Prints one line per failure and a closing "N passed, N failed". */
#define _POSIX_C_SOURCE 200112L
#include <postern.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 1024
#define MAX_TEXT 4096

struct entry {
    char name[300];
    char type[16];
    char value[MAX_TEXT];
    size_t value_len;
};

static struct entry zone[MAX_ENTRIES];
static size_t zone_len = 0;

static int unhex(const char *hex, char *out, size_t cap, size_t *len) {
    size_t n = strlen(hex);
    if (strcmp(hex, "-") == 0) {
        *len = 0;
        out[0] = '\0';
        return 0;
    }
    if (n % 2 != 0 || n / 2 >= cap) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; i++) {
        unsigned int byte = 0;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            return -1;
        }
        out[i] = (char)byte;
    }
    out[n / 2] = '\0';
    *len = n / 2;
    return 0;
}

static int same_name(const char *a, const char *b) {
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la > 0 && a[la - 1] == '.') la--;
    if (lb > 0 && b[lb - 1] == '.') lb--;
    if (la != lb) return 0;
    for (size_t i = 0; i < la; i++) {
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    }
    return 1;
}

static const char *type_name(uint16_t qtype) {
    switch (qtype) {
    case 1: return "A";
    case 28: return "AAAA";
    case 15: return "MX";
    case 12: return "PTR";
    case 16: return "TXT";
    default: return "?";
    }
}

/* Answer one query from the zone; returns the libpostern result of the supply call. */
static uint32_t answer(postern_spf_eval *e, uint32_t id, uint16_t qtype, const char *qname) {
    char name[MAX_TEXT];
    snprintf(name, sizeof name, "%s", qname);
    const char *type = type_name(qtype);
    for (int hop = 0; hop < 10; hop++) {
        int exists = 0;
        int timeout = 0;
        int records = 0;
        const char *cname = NULL;
        for (size_t i = 0; i < zone_len; i++) {
            struct entry *z = &zone[i];
            if (!same_name(z->name, name)) continue;
            exists = 1;
            if (strcmp(z->type, "TIMEOUT") == 0) timeout = 1;
            if (strcmp(z->type, "CNAME") == 0) cname = z->value;
            if (strcmp(z->type, type) != 0) continue;
            uint8_t addr[16];
            uint32_t rc;
            if (qtype == 1) {
                if (inet_pton(AF_INET, z->value, addr) != 1) return POSTERN_RESULT_INVALID_ARGUMENT;
                rc = postern_spf_eval_add_record(e, id, addr, 4);
            } else if (qtype == 28) {
                if (inet_pton(AF_INET6, z->value, addr) != 1) return POSTERN_RESULT_INVALID_ARGUMENT;
                rc = postern_spf_eval_add_record(e, id, addr, 16);
            } else {
                rc = postern_spf_eval_add_record(e, id, (const uint8_t *)z->value, z->value_len);
            }
            /* A record the ABI refuses (a bad name in the zone) is left out, as a resolver would. */
            if (rc == POSTERN_RESULT_OK) records++;
        }
        if (records > 0) return postern_spf_eval_supply_records(e, id);
        if (cname != NULL) {
            snprintf(name, sizeof name, "%s", cname);
            continue;
        }
        if (timeout) return postern_spf_eval_supply_status(e, id, POSTERN_DNS_TEMPFAIL);
        return postern_spf_eval_supply_status(e, id, exists ? POSTERN_DNS_NODATA : POSTERN_DNS_NXDOMAIN);
    }
    /* A CNAME chain longer than 10 hops answers NODATA, as the zone format says. */
    return postern_spf_eval_supply_status(e, id, POSTERN_DNS_NODATA);
}

static int run_check(const char *id, const char *ip, const char *helo, const char *mailfrom,
                     const char *results, const char *explanation, int has_explanation) {
    postern_spf_eval *e = NULL;
    uint32_t rc = postern_spf_eval_new((const uint8_t *)ip, strlen(ip), (const uint8_t *)helo, strlen(helo),
                                       (const uint8_t *)mailfrom, strlen(mailfrom), NULL, 0, 0, 0, &e);
    if (rc != POSTERN_RESULT_OK) {
        /* Texts that are not UTF-8 cannot be checked through the ABI: reported as a failure. */
        printf("FAIL %s: postern_spf_eval_new: %s\n", id, postern_result_str(rc));
        return 0;
    }
    for (int steps = 0; steps < 1000; steps++) {
        uint32_t step = 0;
        rc = postern_spf_eval_step(e, &step);
        if (rc != POSTERN_RESULT_OK || step == POSTERN_STEP_DONE) break;
        uint32_t qid = 0;
        uint16_t qtype = 0;
        char qname[300];
        size_t qlen = 0;
        rc = postern_spf_eval_query(e, &qid, &qtype, (uint8_t *)qname, sizeof qname - 1, &qlen);
        if (rc != POSTERN_RESULT_OK) break;
        qname[qlen] = '\0';
        rc = answer(e, qid, qtype, qname);
        if (rc != POSTERN_RESULT_OK) break;
    }
    uint32_t result = 0;
    uint32_t dns = 0;
    uint32_t voids = 0;
    int ok = 0;
    if (rc == POSTERN_RESULT_OK && postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_OK) {
        const char *got = postern_spf_result_str(result);
        char list[256];
        snprintf(list, sizeof list, "%s", results);
        for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
            if (strcmp(tok, got) == 0) ok = 1;
        }
        if (ok && has_explanation) {
            char text[MAX_TEXT];
            size_t n = 0;
            ok = postern_spf_eval_text(e, POSTERN_SPF_TEXT_EXPLANATION, (uint8_t *)text, sizeof text - 1, &n) ==
                 POSTERN_RESULT_OK;
            text[ok ? n : 0] = '\0';
            const char *want = explanation;
            ok = ok && (n == 0 ? strcmp(want, "DEFAULT") == 0 : strcmp(text, want) == 0);
        }
        if (!ok) printf("FAIL %s: got %s, want %s\n", id, got, results);
    } else {
        printf("FAIL %s: %s\n", id, postern_result_str(rc));
    }
    postern_spf_eval_free(e);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: spf_suite FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (f == NULL) return 2;
    static char line[4 * MAX_TEXT];
    int passed = 0;
    int failed = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *fields[8] = {0};
        int n = 0;
        for (char *tok = strtok(line, " "); tok != NULL && n < 8; tok = strtok(NULL, " ")) fields[n++] = tok;
        if (n == 1 && strcmp(fields[0], "S") == 0) {
            zone_len = 0;
        } else if (n == 4 && strcmp(fields[0], "Z") == 0 && zone_len < MAX_ENTRIES) {
            struct entry *z = &zone[zone_len];
            size_t len = 0;
            if (unhex(fields[1], z->name, sizeof z->name, &len) != 0 ||
                unhex(fields[3], z->value, sizeof z->value, &z->value_len) != 0) {
                fprintf(stderr, "bad zone line\n");
                return 2;
            }
            snprintf(z->type, sizeof z->type, "%s", fields[2]);
            zone_len++;
        } else if (n == 7 && strcmp(fields[0], "Q") == 0) {
            static char helo[MAX_TEXT], mailfrom[MAX_TEXT], expl[MAX_TEXT];
            size_t len = 0;
            if (unhex(fields[3], helo, sizeof helo, &len) != 0 || unhex(fields[4], mailfrom, sizeof mailfrom, &len) != 0 ||
                unhex(fields[6], expl, sizeof expl, &len) != 0) {
                fprintf(stderr, "bad query line\n");
                return 2;
            }
            if (run_check(fields[1], fields[2], helo, mailfrom, fields[5], expl, strcmp(fields[6], "-") != 0)) {
                passed++;
            } else {
                failed++;
            }
        } else {
            fprintf(stderr, "bad line\n");
            return 2;
        }
    }
    fclose(f);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
