/*
 * The three cases of postern's `spf/check_host` criterion bench (benches/benches/spf.rs), run
 * through libspf2 for comparison on the same machine: libspf2's static zone resolver
 * (SPF_DNS_ZONE) with no cache layer, so every check fetches and compiles its records from
 * text, as the postern bench parses them on every run.
 *
 * Build: gcc -O2 -Wall -o libspf2_spf libspf2_spf.c -lspf2   (Debian: libspf2-dev)
 * Run:   ./libspf2_spf ip4|include_chain5|exists_macro [N]
 * Prints the best and the median of 25 rounds of N checks, in nanoseconds per check. Every
 * check must pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <spf2/spf.h>
#include <spf2/spf_dns_zone.h>

static SPF_server_t *server;

static void zone_add(const char *name, ns_type type, const char *data)
{
    if (SPF_dns_zone_add_str(server->resolver, name, type, NETDB_SUCCESS, data) != SPF_E_SUCCESS) {
        fprintf(stderr, "cannot add %s to the zone\n", name);
        exit(2);
    }
}

static SPF_result_t check(const char *ip, const char *helo, const char *mail_from)
{
    SPF_request_t *request = SPF_request_new(server);
    SPF_response_t *response = NULL;
    if (SPF_request_set_ipv4_str(request, ip) || SPF_request_set_env_from(request, mail_from)) {
        fprintf(stderr, "bad request\n");
        exit(2);
    }
    SPF_request_set_helo_dom(request, helo);
    SPF_request_query_mailfrom(request, &response);
    SPF_result_t result = SPF_response_result(response);
    SPF_response_free(response);
    SPF_request_free(request);
    return result;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s ip4|include_chain5|exists_macro [N]\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 100000;
    const char *helo = "mail.example.com";
    const char *ip;
    const char *mail_from;
    server = SPF_server_new(SPF_DNS_ZONE, 0);
    if (strcmp(name, "ip4") == 0) {
        zone_add("example.com", ns_t_txt, "v=spf1 ip4:192.0.2.0/24 -all");
        ip = "192.0.2.77";
        mail_from = "alice@example.com";
    } else if (strcmp(name, "include_chain5") == 0) {
        zone_add("example.com", ns_t_txt, "v=spf1 include:_spf.example.com ~all");
        zone_add("_spf.example.com", ns_t_txt,
                 "v=spf1 ip4:198.51.100.0/24 ip4:198.51.101.0/24 ip6:2001:db8:1::/48 include:_spf2.example.com ~all");
        zone_add("_spf2.example.com", ns_t_txt,
                 "v=spf1 ip4:203.0.113.0/26 ip4:203.0.113.64/26 ip6:2001:db8:2::/48 ip6:2001:db8:3::/48 include:_spf3.example.com ?all");
        zone_add("_spf3.example.com", ns_t_txt,
                 "v=spf1 ip4:192.0.2.128/28 ip6:2001:db8:4::/48 ip4:192.0.2.144/28 include:_spf4.example.com -all");
        zone_add("_spf4.example.com", ns_t_txt,
                 "v=spf1 ip4:10.0.0.0/8 ip6:2001:db8:5::/48 ip4:172.16.0.0/12 ip4:192.0.2.0/25 -all");
        ip = "192.0.2.7";
        mail_from = "bob@example.com";
    } else if (strcmp(name, "exists_macro") == 0) {
        zone_add("example.com", ns_t_txt, "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all");
        zone_add("77.2.0.192.carol._spf.example.com", ns_t_a, "127.0.0.2");
        ip = "192.0.2.77";
        mail_from = "carol+lists@example.com";
    } else {
        fprintf(stderr, "unknown case %s\n", name);
        return 2;
    }

    enum { ROUNDS = 25 };
    double per[ROUNDS];
    long failed = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double start = now_ns();
        for (long i = 0; i < n; i++)
            failed += check(ip, helo, mail_from) != SPF_RESULT_PASS;
        per[round] = (now_ns() - start) / (double)n;
    }
    qsort(per, ROUNDS, sizeof per[0], compare_doubles);
    SPF_server_free(server);
    if (failed) {
        fprintf(stderr, "%ld checks did not pass\n", failed);
        return 1;
    }
    printf("libspf2 %s: best %.1f ns, median %.1f ns\n", name, per[0], per[ROUNDS / 2]);
    return 0;
}
