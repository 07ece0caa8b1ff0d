/* dkim_verify: verify the DKIM signatures of a message file with libpostern, streaming it
 * in 4 KiB reads. Key queries come as soon as the header block has been read; this program
 * answers them from a key file of `NAME TXT-VALUE` lines (offline) or live with res_query().
 *
 *   dkim_verify MESSAGE (KEYFILE | --live) [NOW]
 *   cc -std=c11 dkim_verify.c $(pkg-config --cflags --libs postern) -lresolv */
#define _DEFAULT_SOURCE
#include <postern.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t answer(postern_dkim_verifier *v, const char *keyfile) {
    uint32_t id = 0;
    uint16_t qtype = 0;
    char name[256];
    size_t len = 0;
    uint32_t rc = postern_dkim_verifier_query(v, &id, &qtype, (uint8_t *)name, sizeof name - 1, &len);
    if (rc != POSTERN_RESULT_OK) return rc;
    name[len] = '\0';
    if (keyfile == NULL) {
        unsigned char packet[65536];
        int n = res_query(name, ns_c_in, ns_t_txt, packet, sizeof packet);
        if (n < 0) {
            int status = h_errno == HOST_NOT_FOUND ? POSTERN_DNS_NXDOMAIN
                         : h_errno == NO_DATA      ? POSTERN_DNS_NODATA
                                                   : POSTERN_DNS_TEMPFAIL;
            return postern_dkim_verifier_supply_status(v, id, (uint32_t)status);
        }
        return postern_dkim_verifier_supply_wire(v, id, packet, (size_t)n);
    }
    FILE *f = fopen(keyfile, "r");
    if (f == NULL) return postern_dkim_verifier_supply_status(v, id, POSTERN_DNS_TEMPFAIL);
    static char line[8192];
    int found = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *value = strchr(line, ' ');
        if (value == NULL) continue;
        *value++ = '\0';
        if (strcmp(line, name) != 0) continue;
        rc = postern_dkim_verifier_add_record(v, id, (const uint8_t *)value, strlen(value));
        if (rc != POSTERN_RESULT_OK) break;
        found = 1;
    }
    fclose(f);
    if (rc != POSTERN_RESULT_OK) return rc;
    return found ? postern_dkim_verifier_supply_records(v, id)
                 : postern_dkim_verifier_supply_status(v, id, POSTERN_DNS_NXDOMAIN);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: dkim_verify MESSAGE (KEYFILE | --live) [NOW]\n");
        return 2;
    }
    const char *keyfile = strcmp(argv[2], "--live") == 0 ? NULL : argv[2];
    uint64_t now = argc == 4 ? strtoull(argv[3], NULL, 10) : 1700086400u;
    FILE *msg = fopen(argv[1], "rb");
    if (msg == NULL) {
        fprintf(stderr, "dkim_verify: cannot open %s\n", argv[1]);
        return 1;
    }
    postern_dkim_verifier *v = NULL;
    uint32_t rc = postern_dkim_verifier_new(now, 0, &v);
    int done = 0;
    while (rc == POSTERN_RESULT_OK && !done) {
        uint32_t step = 0;
        if ((rc = postern_dkim_verifier_step(v, &step)) != POSTERN_RESULT_OK) break;
        if (step == POSTERN_STEP_LOOKUP) {
            rc = answer(v, keyfile);
        } else if (step == POSTERN_STEP_NEED_INPUT) {
            uint8_t buf[4096];
            size_t n = fread(buf, 1, sizeof buf, msg);
            rc = n > 0 ? postern_dkim_verifier_update(v, buf, n) : postern_dkim_verifier_finish(v);
        } else if (step == POSTERN_STEP_DONE) {
            done = 1;
        } else {
            rc = POSTERN_RESULT_INVALID_STATE; /* every query is answered at once here */
        }
    }
    fclose(msg);
    char ar[4096];
    size_t len = 0;
    if (done && postern_dkim_verifier_authentication_results(v, (uint8_t *)ar, sizeof ar, &len) == POSTERN_RESULT_OK) {
        printf("%.*s\n", (int)len, ar);
    } else {
        fprintf(stderr, "dkim_verify: %s\n", postern_result_str(rc));
    }
    postern_dkim_verifier_free(v);
    return done ? 0 : 1;
}
