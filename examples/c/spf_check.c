/* spf_check: an SPF check (RFC 7208) through libpostern's step loop. The library asks for
 * each DNS answer; this program answers either from a small table in the program (default,
 * for a demonstration without network) or live with res_query() (--live), handing the raw
 * response packet to the library.
 *
 *   spf_check [--live] IP HELO MAIL-FROM
 *   cc -std=c11 spf_check.c $(pkg-config --cflags --libs postern) -lresolv */
#define _DEFAULT_SOURCE
#include <postern.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>

struct answer {
    const char *name;
    uint16_t type;
    const char *data; /* TXT text, MX "PREF HOST", A/AAAA as text (converted below) */
};

static const struct answer table[] = {
    {"example.com", 16, "v=spf1 mx include:_spf.example.net -all"},
    {"example.com", 15, "10 mx.example.com"},
    {"mx.example.com", 1, "192.0.2.25"},
    {"_spf.example.net", 16, "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 ~all"},
};

static uint32_t answer_from_table(postern_spf_eval *e, uint32_t id, uint16_t qtype, const char *name) {
    int found = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].type != qtype || strcmp(table[i].name, name) != 0) continue;
        uint8_t addr[16];
        uint32_t rc;
        if (qtype == 1 && inet_pton(AF_INET, table[i].data, addr) == 1) {
            rc = postern_spf_eval_add_record(e, id, addr, 4);
        } else if (qtype == 28 && inet_pton(AF_INET6, table[i].data, addr) == 1) {
            rc = postern_spf_eval_add_record(e, id, addr, 16);
        } else {
            rc = postern_spf_eval_add_record(e, id, (const uint8_t *)table[i].data, strlen(table[i].data));
        }
        if (rc != POSTERN_RESULT_OK) return rc;
        found = 1;
    }
    if (found) return postern_spf_eval_supply_records(e, id);
    /* A name in the table without this type is NODATA; any other name NXDOMAIN. */
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name) == 0) return postern_spf_eval_supply_status(e, id, POSTERN_DNS_NODATA);
    }
    return postern_spf_eval_supply_status(e, id, POSTERN_DNS_NXDOMAIN);
}

static uint32_t answer_live(postern_spf_eval *e, uint32_t id, uint16_t qtype, const char *name) {
    unsigned char packet[65536];
    int n = res_query(name, ns_c_in, qtype, packet, sizeof packet);
    if (n < 0) {
        /* res_query hides the RCODE: h_errno tells NXDOMAIN and NODATA from failures. */
        int status = h_errno == HOST_NOT_FOUND ? POSTERN_DNS_NXDOMAIN
                     : h_errno == NO_DATA      ? POSTERN_DNS_NODATA
                                               : POSTERN_DNS_TEMPFAIL;
        return postern_spf_eval_supply_status(e, id, (uint32_t)status);
    }
    uint32_t rc = postern_spf_eval_supply_wire(e, id, packet, (size_t)n);
    /* A truncated or broken answer: treat the lookup as failed rather than retrying here. */
    return rc == POSTERN_RESULT_OK ? rc : postern_spf_eval_supply_status(e, id, POSTERN_DNS_TEMPFAIL);
}

int main(int argc, char **argv) {
    int live = argc > 1 && strcmp(argv[1], "--live") == 0;
    if (argc != 4 + live) {
        fprintf(stderr, "usage: spf_check [--live] IP HELO MAIL-FROM\n");
        return 2;
    }
    const char *ip = argv[1 + live], *helo = argv[2 + live], *from = argv[3 + live];
    postern_spf_eval *e = NULL;
    uint32_t rc = postern_spf_eval_new((const uint8_t *)ip, strlen(ip), (const uint8_t *)helo, strlen(helo),
                                       (const uint8_t *)from, strlen(from), (const uint8_t *)"mx.example.org", 14, 0,
                                       0, &e);
    if (rc != POSTERN_RESULT_OK) {
        fprintf(stderr, "spf_check: %s\n", postern_result_str(rc));
        return 1;
    }
    for (;;) {
        uint32_t step = 0;
        if ((rc = postern_spf_eval_step(e, &step)) != POSTERN_RESULT_OK || step == POSTERN_STEP_DONE) break;
        uint32_t id = 0;
        uint16_t qtype = 0;
        char name[256];
        size_t len = 0;
        if ((rc = postern_spf_eval_query(e, &id, &qtype, (uint8_t *)name, sizeof name - 1, &len)) != POSTERN_RESULT_OK)
            break;
        name[len] = '\0';
        rc = live ? answer_live(e, id, qtype, name) : answer_from_table(e, id, qtype, name);
        if (rc != POSTERN_RESULT_OK) break;
    }
    char header[1024];
    size_t len = 0;
    uint32_t result = 0, dns = 0, voids = 0;
    if (rc == POSTERN_RESULT_OK && postern_spf_eval_result(e, &result, &dns, &voids) == POSTERN_RESULT_OK &&
        postern_spf_eval_text(e, POSTERN_SPF_TEXT_RECEIVED_SPF, (uint8_t *)header, sizeof header, &len) ==
            POSTERN_RESULT_OK) {
        printf("%s (%u DNS lookups)\nReceived-SPF: %.*s\n", postern_spf_result_str(result), (unsigned)dns, (int)len,
               header);
    } else {
        fprintf(stderr, "spf_check: %s\n", postern_result_str(rc));
    }
    postern_spf_eval_free(e);
    return rc == POSTERN_RESULT_OK ? 0 : 1;
}
