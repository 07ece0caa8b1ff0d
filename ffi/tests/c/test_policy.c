/* C tests of the policy part of libpostern: GCRA rate limits (burst, retry-after, prefix
 * aggregation, sender normalisation), greylisting with a caller clock, the penalty box
 * (tarpit), concurrency leases, bounce suppression rows, the STARTTLS decision feeding the
 * proxy, the outbound TLS decision with an MTA-STS policy, and misuse (NULL, bad values,
 * short reply buffers that must not charge anything, invalid UTF-8 and addresses). */
#include <postern.h>

#include <stdbool.h>
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

static uint32_t check_ip(postern_rate_limiter *rl, const char *ip, uint64_t now, uint32_t *action, uint64_t *ms,
                         char *reply, size_t *len) {
    return postern_rate_limiter_check(rl, POSTERN_SUBJECT_CLIENT, (const uint8_t *)ip, strlen(ip), now, 1, true,
                                      action, ms, (uint8_t *)reply, POSTERN_REPLY_MAX, len);
}

static void test_rate_limiter(void) {
    postern_rate_limiter *rl = NULL;
    CHECK(postern_rate_limiter_new(3, 60000, 0, POSTERN_RATE_LEAKY, 1000, 32, 64, &rl) == POSTERN_RESULT_OK);
    uint32_t action = 99;
    uint64_t ms = 99;
    char reply[POSTERN_REPLY_MAX];
    size_t len = 0;
    /* Exactly `burst` connections pass at once, then one per T = 20 s. */
    for (int i = 0; i < 3; i++) {
        CHECK(check_ip(rl, "2001:db8:1:2::7", 1000, &action, &ms, reply, &len) == POSTERN_RESULT_OK);
        CHECK(action == POSTERN_ACTION_ACCEPT && ms == 0 && len == 0);
    }
    /* Another address in the same /64 is the same client. */
    CHECK(check_ip(rl, "2001:db8:1:2::8", 1000, &action, &ms, reply, &len) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_DISCONNECT && ms == 20000);
    CHECK(len > 10 && memcmp(reply, "421 4.7.0 ", 10) == 0);
    CHECK(check_ip(rl, "2001:db8:1:3::1", 1000, &action, &ms, reply, &len) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_ACCEPT);
    CHECK(check_ip(rl, "2001:db8:1:2::7", 21000, &action, &ms, reply, &len) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_ACCEPT);
    /* A short reply buffer is refused before anything is charged; NULL skips the text. */
    uint32_t before = action;
    CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_CLIENT, BYTES("192.0.2.1"), 21000, 1, true, &action, &ms,
                                     (uint8_t *)reply, 16, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(len == POSTERN_REPLY_MAX && action == before);
    for (int i = 0; i < 3; i++) {
        CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_CLIENT, BYTES("192.0.2.1"), 21000, 1, true, &action,
                                         &ms, NULL, 0, NULL) == POSTERN_RESULT_OK &&
              action == POSTERN_ACTION_ACCEPT);
    }
    /* Misuse. */
    CHECK(check_ip(rl, "192.0.2.300", 0, &action, &ms, reply, &len) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_check(rl, 9, BYTES("x"), 0, 1, false, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_SENDER, BYTES("a\xff@b"), 0, 1, false, &action, &ms, NULL,
                                     0, NULL) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_check(NULL, POSTERN_SUBJECT_SENDER, BYTES("a@b"), 0, 1, false, &action, &ms, NULL, 0,
                                     NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_SENDER, BYTES("a@b"), 0, 1, false, NULL, &ms, NULL, 0,
                                     NULL) == POSTERN_RESULT_NULL);
    postern_rate_limiter_free(rl);
    postern_rate_limiter_free(NULL);

    /* Messages per sender: +ext and case are the same sender; refusal is a 4xx defer. */
    CHECK(postern_rate_limiter_new(1, 3600000, 0, POSTERN_RATE_STRICT, 10, 32, 64, &rl) == POSTERN_RESULT_OK);
    CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_SENDER, BYTES("Alice+news@Example.org"), 0, 1, false,
                                     &action, &ms, (uint8_t *)reply, sizeof reply, &len) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_ACCEPT);
    CHECK(postern_rate_limiter_check(rl, POSTERN_SUBJECT_SENDER, BYTES("alice@example.org"), 5, 1, false, &action,
                                     &ms, (uint8_t *)reply, sizeof reply, &len) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_DEFER && reply[0] == '4');
    postern_rate_limiter_free(rl);

    CHECK(postern_rate_limiter_new(0, 60000, 0, POSTERN_RATE_LEAKY, 10, 32, 64, &rl) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_new(3, 60000, 0, 7, 10, 32, 64, &rl) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_new(3, 60000, 0, POSTERN_RATE_LEAKY, 10, 33, 64, &rl) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_new(3, 60000, 0, POSTERN_RATE_LEAKY, 0, 32, 64, &rl) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_rate_limiter_new(3, 60000, 0, POSTERN_RATE_LEAKY, 10, 32, 64, NULL) == POSTERN_RESULT_NULL);
}

static void test_greylist(void) {
    postern_greylist *g = NULL;
    CHECK(postern_greylist_new(POSTERN_GREYLIST_TRIPLET, 300000, 0, 0, 0, 1000, 24, 64, &g) == POSTERN_RESULT_OK);
    uint32_t action = 0;
    uint64_t ms = 0;
    char reply[POSTERN_REPLY_MAX];
    size_t len = 0;
#define GL(ip, now) \
    postern_greylist_check(g, BYTES(ip), BYTES("a@example.org"), BYTES("b@example.net"), now, &action, &ms, \
                           (uint8_t *)reply, sizeof reply, &len)
    CHECK(GL("192.0.2.10", 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER && ms == 300000);
    CHECK(len > 10 && memcmp(reply, "451 4.7.1 ", 10) == 0);
    /* Too early, from another address of the same /24: still deferred. */
    CHECK(GL("192.0.2.99", 100000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER && ms == 200000);
    CHECK(GL("192.0.2.10", 300000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT && len == 0);
    CHECK(GL("192.0.2.10", 400000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(GL("198.51.100.1", 400000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER);
    CHECK(GL("not-an-ip", 0) == POSTERN_RESULT_INVALID_ARGUMENT);
#undef GL
    CHECK(postern_greylist_check(g, NULL, 3, BYTES("a"), BYTES("b"), 0, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_NULL);
    postern_greylist_free(g);
    postern_greylist_free(NULL);
    /* The retry window must not be shorter than the delay; unknown key kinds are refused. */
    CHECK(postern_greylist_new(POSTERN_GREYLIST_TRIPLET, 600000, 1000, 0, 0, 10, 24, 64, &g) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_greylist_new(17, 0, 0, 0, 0, 10, 24, 64, &g) == POSTERN_RESULT_INVALID_ARGUMENT);
}

static void test_penalty_box(void) {
    postern_penalty_box *p = NULL;
    /* Half-life 10 min, 1 point per offence, 1 s of delay per point up to 5 s, banned at 4. */
    CHECK(postern_penalty_box_new(600000, 0, 0, 0, 5000, 4, 0, 1000, 24, 64, &p) == POSTERN_RESULT_OK);
    uint32_t action = 99, points = 99;
    uint64_t ms = 99;
    char reply[POSTERN_REPLY_MAX];
    size_t len = 0;
#define PB(ip, now)                                                                                           \
    postern_penalty_box_connect(p, BYTES(ip), now, &action, &ms, (uint8_t *)reply, sizeof reply, &len, &points)
#define PENALIZE(ip, offence, now) postern_penalty_box_penalize(p, BYTES(ip), offence, now)
    CHECK(PB("192.0.2.10", 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT && ms == 0 && points == 0);
    CHECK(len == 0);
    /* Offences from two addresses of one /24 add up. */
    CHECK(PENALIZE("192.0.2.10", POSTERN_OFFENCE_UNKNOWN_RECIPIENT, 0) == POSTERN_RESULT_OK);
    CHECK(PENALIZE("192.0.2.11", POSTERN_OFFENCE_PROTOCOL_ERROR, 0) == POSTERN_RESULT_OK);
    CHECK(PB("192.0.2.12", 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DELAY && ms == 2000 && points == 2);
    /* One half-life later the score has halved; another /24 is untouched. */
    CHECK(PB("192.0.2.12", 600000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DELAY && ms == 1000);
    CHECK(points == 1);
    CHECK(PB("198.51.100.1", 600000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT && points == 0);
    /* Harvesting: at 4 points the prefix is refused with 421 4.7.0. */
    for (int i = 0; i < 4; i++) {
        CHECK(PENALIZE("192.0.2.200", POSTERN_OFFENCE_UNKNOWN_RECIPIENT, 600000) == POSTERN_RESULT_OK);
    }
    CHECK(PB("192.0.2.12", 600000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DISCONNECT && points == 5);
    CHECK(len > 10 && memcmp(reply, "421 4.7.0 ", 10) == 0);
    /* Misuse: unknown offence, bad address, NULL handle or out-parameter; `points` may be NULL. */
    CHECK(PENALIZE("192.0.2.1", 7, 0) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(PENALIZE("192.0.2.300", POSTERN_OFFENCE_PROTOCOL_ERROR, 0) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_penalty_box_penalize(NULL, BYTES("192.0.2.1"), POSTERN_OFFENCE_PROTOCOL_ERROR, 0) ==
          POSTERN_RESULT_NULL);
    CHECK(postern_penalty_box_connect(p, BYTES("192.0.2.1"), 0, NULL, &ms, NULL, 0, NULL, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_penalty_box_connect(p, BYTES("192.0.2.1"), 600000, &action, &ms, NULL, 0, NULL, NULL) ==
          POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_DISCONNECT);
#undef PB
#undef PENALIZE
    postern_penalty_box_free(p);
    postern_penalty_box_free(NULL);
    /* A permanent ban answers 554 5.7.1. */
    CHECK(postern_penalty_box_new(0, 0, 0, 0, 0, 1, POSTERN_PENALTY_BAN_PERMANENT, 10, 32, 64, &p) ==
          POSTERN_RESULT_OK);
    CHECK(postern_penalty_box_penalize(p, BYTES("2001:db8::1"), POSTERN_OFFENCE_UNKNOWN_RECIPIENT, 5) ==
          POSTERN_RESULT_OK);
    CHECK(postern_penalty_box_connect(p, BYTES("2001:db8::2"), 5, &action, &ms, (uint8_t *)reply, sizeof reply, &len,
                                      NULL) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_DISCONNECT && len > 10 && memcmp(reply, "554 5.7.1 ", 10) == 0);
    postern_penalty_box_free(p);
    /* Unknown flags and bad prefix lengths are refused. */
    CHECK(postern_penalty_box_new(0, 0, 0, 0, 0, 0, 8, 10, 32, 64, &p) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_penalty_box_new(0, 0, 0, 0, 0, 0, 0, 10, 33, 64, &p) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_penalty_box_new(0, 0, 0, 0, 0, 0, 0, 10, 32, 64, NULL) == POSTERN_RESULT_NULL);
}

static void test_concurrency(void) {
    postern_concurrency *c = NULL;
    /* Three sessions, two per client, one of the three only for allow-listed sessions; a
     * lease lives a minute unless renewed. */
    CHECK(postern_concurrency_new(3, 2, 1, 60000, 32, 64, &c) == POSTERN_RESULT_OK);
    uint32_t action = 99, active = 99;
    uint64_t ms = 99, lease1 = 0, lease2 = 0, lease3 = 0, refused = 99;
    char reply[POSTERN_REPLY_MAX];
    size_t len = 0;
    bool held = false;
#define ACQ(ip, flags, now, lease)                                                                              \
    postern_concurrency_acquire(c, BYTES(ip), flags, now, lease, &action, &ms, (uint8_t *)reply, sizeof reply, \
                                &len)
    CHECK(ACQ("192.0.2.1", 0, 0, &lease1) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT && len == 0);
    CHECK(ACQ("192.0.2.1", 0, 0, &lease2) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(lease1 != lease2);
    /* A third session from the same client: refused, 421 4.7.0. */
    CHECK(ACQ("192.0.2.1", 0, 0, &refused) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DISCONNECT);
    CHECK(refused == 0 && len > 10 && memcmp(reply, "421 4.7.0 ", 10) == 0);
    /* Another client finds the shared slots taken; an allow-listed one gets the reserved. */
    CHECK(ACQ("2001:db8::1", 0, 0, &refused) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DISCONNECT);
    CHECK(ACQ("2001:db8::1", POSTERN_SLOT_RESERVED, 0, &lease3) == POSTERN_RESULT_OK);
    CHECK(action == POSTERN_ACTION_ACCEPT);
    CHECK(postern_concurrency_active(c, &active) == POSTERN_RESULT_OK && active == 3);
    /* Release frees a slot once; a released lease is no longer held. */
    CHECK(postern_concurrency_release(c, lease1, &held) == POSTERN_RESULT_OK && held);
    CHECK(postern_concurrency_release(c, lease1, &held) == POSTERN_RESULT_OK && !held);
    CHECK(postern_concurrency_renew(c, lease1, 1000, &held) == POSTERN_RESULT_OK && !held);
    CHECK(ACQ("198.51.100.7", 0, 1000, &lease1) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    /* Renewed leases live on; the others expire a minute after their last renewal. */
    CHECK(postern_concurrency_renew(c, lease2, 50000, &held) == POSTERN_RESULT_OK && held);
    CHECK(postern_concurrency_renew(c, lease2, 100000, &held) == POSTERN_RESULT_OK && held);
    CHECK(postern_concurrency_renew(c, lease3, 100000, &held) == POSTERN_RESULT_OK && !held);
    CHECK(postern_concurrency_active(c, &active) == POSTERN_RESULT_OK && active == 1);
    CHECK(postern_concurrency_release(c, lease2, NULL) == POSTERN_RESULT_OK);
    /* Misuse: unknown flags, bad address, NULL handle or out-parameter; a made-up lease. */
    CHECK(ACQ("192.0.2.1", 4, 0, &refused) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(ACQ("192.0.2.999", 0, 0, &refused) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_concurrency_acquire(c, BYTES("192.0.2.1"), 0, 0, NULL, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_NULL);
    CHECK(postern_concurrency_release(c, 0xdeadbeefcafeULL, &held) == POSTERN_RESULT_OK && !held);
    CHECK(postern_concurrency_renew(NULL, lease1, 0, &held) == POSTERN_RESULT_NULL);
    CHECK(postern_concurrency_renew(c, lease1, 0, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_concurrency_active(NULL, &active) == POSTERN_RESULT_NULL);
#undef ACQ
    postern_concurrency_free(c);
    postern_concurrency_free(NULL);
    /* No slots at all, more reserved than total, bad prefix lengths: refused. */
    CHECK(postern_concurrency_new(0, 0, 0, 0, 32, 64, &c) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_concurrency_new(2, 0, 3, 0, 32, 64, &c) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_concurrency_new(2, 0, 0, 0, 32, 129, &c) == POSTERN_RESULT_INVALID_ARGUMENT);
}

struct outbound {
    uint32_t rc, decision, auth, failure;
    bool downgrade;
    char reply[POSTERN_REPLY_MAX + 1];
};

static struct outbound outbound(uint32_t flags, uint32_t dane, const postern_sts_policy *policy, const char *mx,
                                uint32_t forced) {
    struct outbound o = {99, 99, 99, 99, false, {0}};
    size_t len = 0;
    o.rc = postern_outbound_decide(flags, dane, policy, (const uint8_t *)mx, strlen(mx), forced, &o.decision, &o.auth,
                                   &o.failure, &o.downgrade, (uint8_t *)o.reply, POSTERN_REPLY_MAX, &len);
    o.reply[o.rc == POSTERN_RESULT_OK ? len : 0] = '\0';
    return o;
}

static void test_outbound_tls(void) {
    static const char body[] = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
                               "max_age: 604800\r\n";
    postern_sts_policy *sts = NULL;
    uint32_t mode = 99, max_age = 0;
    CHECK(postern_sts_policy_parse(BYTES(body), &mode, &max_age, &sts) == POSTERN_RESULT_OK);
    CHECK(mode == POSTERN_STS_ENFORCE && max_age == 604800);
    const uint32_t starttls = POSTERN_OUTBOUND_OFFERS_STARTTLS;
    /* MTA-STS enforce: a matching MX needs TLS with PKIX; another MX is skipped, or the
     * message waits when none is left. */
    struct outbound o = outbound(starttls, POSTERN_DANE_NONE, sts, "MX1.example.net.", POSTERN_TLS_AUTH_NONE);
    CHECK(o.rc == POSTERN_RESULT_OK && o.decision == POSTERN_OUTBOUND_REQUIRE_TLS && o.auth == POSTERN_TLS_AUTH_PKIX);
    CHECK(o.failure == POSTERN_TLS_FAILURE_NONE && !o.downgrade && o.reply[0] == '\0');
    o = outbound(starttls | POSTERN_OUTBOUND_MORE_MX, POSTERN_DANE_NONE, sts, "evil.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_TRY_NEXT_MX && o.failure == POSTERN_TLS_FAILURE_MX_MISMATCH);
    o = outbound(starttls, POSTERN_DANE_NONE, sts, "evil.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_DEFER && memcmp(o.reply, "451 4.7.5 ", 10) == 0);
    /* The policy's MX without STARTTLS: never in clear. */
    o = outbound(POSTERN_OUTBOUND_LEARNED_TLS, POSTERN_DANE_NONE, sts, "mail.example.com", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_DEFER && o.failure == POSTERN_TLS_FAILURE_NO_STARTTLS && o.downgrade);
    /* TLS-Required: No sets recipient policies aside; REQUIRETLS without it at the MX bounces. */
    o = outbound(POSTERN_OUTBOUND_TLS_REQUIRED_NO, POSTERN_DANE_NONE, sts, "evil.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_OPPORTUNISTIC);
    o = outbound(POSTERN_OUTBOUND_REQUIRETLS | starttls, POSTERN_DANE_NONE, NULL, "mx.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_BOUNCE && o.failure == POSTERN_TLS_FAILURE_NO_REQUIRETLS);
    CHECK(memcmp(o.reply, "550 5.7.30 ", 11) == 0);
    /* DANE comes first; the local forced-TLS list applies without MTA-STS. */
    o = outbound(starttls, POSTERN_DANE_USABLE, sts, "evil.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_REQUIRE_TLS && o.auth == POSTERN_TLS_AUTH_DANE);
    o = outbound(starttls, POSTERN_DANE_NONE, NULL, "mx.example.org", POSTERN_TLS_AUTH_UNAUTHENTICATED);
    CHECK(o.decision == POSTERN_OUTBOUND_REQUIRE_TLS && o.auth == POSTERN_TLS_AUTH_UNAUTHENTICATED);
    /* A suspected downgrade goes in clear unless refused. */
    o = outbound(POSTERN_OUTBOUND_LEARNED_TLS, POSTERN_DANE_NONE, NULL, "mx.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_OPPORTUNISTIC && o.downgrade);
    o = outbound(POSTERN_OUTBOUND_LEARNED_TLS | POSTERN_OUTBOUND_REFUSE_SUSPECTED_DOWNGRADE | POSTERN_OUTBOUND_MORE_MX,
                 POSTERN_DANE_NONE, NULL, "mx.example.org", 0);
    CHECK(o.decision == POSTERN_OUTBOUND_TRY_NEXT_MX && o.failure == POSTERN_TLS_FAILURE_NO_STARTTLS);
    /* Misuse: unknown flags, DANE status or authentication; a short reply buffer; NULLs. */
    CHECK(outbound(128, 0, NULL, "mx", 0).rc == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(outbound(0, 4, NULL, "mx", 0).rc == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(outbound(0, 0, NULL, "mx", 4).rc == POSTERN_RESULT_INVALID_ARGUMENT);
    uint32_t decision = 99, auth = 99, failure = 99;
    bool downgrade = false;
    char small[8];
    size_t len = 0;
    CHECK(postern_outbound_decide(0, 0, NULL, BYTES("mx"), 0, &decision, &auth, &failure, &downgrade,
                                  (uint8_t *)small, sizeof small, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL);
    CHECK(len == POSTERN_REPLY_MAX && decision == 99);
    CHECK(postern_outbound_decide(0, 0, NULL, BYTES("mx"), 0, &decision, &auth, &failure, &downgrade, NULL, 0,
                                  NULL) == POSTERN_RESULT_OK);
    CHECK(decision == POSTERN_OUTBOUND_OPPORTUNISTIC);
    CHECK(postern_outbound_decide(0, 0, NULL, BYTES("mx"), 0, NULL, &auth, &failure, &downgrade, NULL, 0, NULL) ==
          POSTERN_RESULT_NULL);
    postern_sts_policy_free(sts);
    postern_sts_policy_free(NULL);
    /* Not a policy: no version line. */
    CHECK(postern_sts_policy_parse(BYTES("mode: enforce\nmax_age: 60\nmx: a.example\n"), &mode, &max_age, &sts) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_sts_policy_parse(BYTES(body), &mode, &max_age, NULL) == POSTERN_RESULT_NULL);
}

static uint32_t bounce(uint32_t flags, uint32_t spf, uint32_t rcpt, const char *auto_submitted, char *reason) {
    uint32_t decision = 99;
    size_t len = 0;
    uint32_t rc = postern_bounce_decide(flags, spf, rcpt, (const uint8_t *)auto_submitted, strlen(auto_submitted),
                                        NULL, 0, &decision, (uint8_t *)reason, 63, &len);
    reason[rc == POSTERN_RESULT_OK ? len : 0] = '\0';
    return rc == POSTERN_RESULT_OK ? decision : 1000 + rc;
}

static void test_bounce(void) {
    char reason[64];
    const uint32_t after = POSTERN_BOUNCE_AFTER_ACCEPTANCE;
    CHECK(bounce(0, POSTERN_SPF_PASS, POSTERN_RECIPIENT_UNKNOWN, "", reason) == POSTERN_BOUNCE_REJECT_AT_SMTP);
    CHECK(bounce(after, POSTERN_SPF_PASS, POSTERN_RECIPIENT_MAILBOX_FULL, "", reason) == POSTERN_BOUNCE_SEND_DSN_FULL);
    CHECK(bounce(after | POSTERN_BOUNCE_RET_HEADERS, POSTERN_SPF_PASS, POSTERN_RECIPIENT_MAILBOX_FULL, "", reason) ==
          POSTERN_BOUNCE_SEND_DSN_HEADERS);
    /* The required rule: SPF fail or softfail with an unknown recipient sends no error mail. */
    CHECK(bounce(after, POSTERN_SPF_SOFTFAIL, POSTERN_RECIPIENT_UNKNOWN, "", reason) == POSTERN_BOUNCE_SUPPRESS);
    CHECK(strcmp(reason, "spf_fail_unknown_recipient") == 0);
    CHECK(bounce(after, POSTERN_SPF_FAIL, POSTERN_RECIPIENT_MAILBOX_FULL, "", reason) == POSTERN_BOUNCE_SUPPRESS);
    CHECK(strcmp(reason, "spf_fail_unverified") == 0);
    CHECK(bounce(after | POSTERN_BOUNCE_NULL_SENDER, POSTERN_SPF_PASS, POSTERN_RECIPIENT_MAILBOX_FULL, "", reason) ==
          POSTERN_BOUNCE_SUPPRESS);
    CHECK(strcmp(reason, "null_sender") == 0);
    CHECK(bounce(after, POSTERN_SPF_PASS, POSTERN_RECIPIENT_MAILBOX_FULL, "auto-replied", reason) ==
          POSTERN_BOUNCE_SUPPRESS);
    CHECK(strcmp(reason, "auto_submitted") == 0);
    /* Misuse: unknown values, contradictory flags, bad NOTIFY, NULL out-parameters. */
    CHECK(bounce(after, 42, POSTERN_RECIPIENT_OK, "", reason) == 1000 + POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(bounce(after, POSTERN_SPF_PASS, 42, "", reason) == 1000 + POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(bounce(POSTERN_BOUNCE_RET_FULL | POSTERN_BOUNCE_RET_HEADERS, POSTERN_SPF_PASS, 0, "", reason) ==
          1000 + POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(bounce(1u << 20, POSTERN_SPF_PASS, 0, "", reason) == 1000 + POSTERN_RESULT_INVALID_ARGUMENT);
    uint32_t decision = 0;
    size_t len = 0;
    CHECK(postern_bounce_decide(after, POSTERN_SPF_PASS, 0, NULL, 0, BYTES("NEVER,FAILURE"), &decision,
                                (uint8_t *)reason, sizeof reason, &len) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_bounce_decide(after, POSTERN_SPF_PASS, POSTERN_RECIPIENT_MAILBOX_FULL, NULL, 0, BYTES("NEVER"),
                                &decision, (uint8_t *)reason, sizeof reason, &len) == POSTERN_RESULT_OK &&
          decision == POSTERN_BOUNCE_SUPPRESS);
    CHECK(postern_bounce_decide(after, POSTERN_SPF_PASS, 0, NULL, 0, NULL, 0, NULL, NULL, 0, &len) ==
          POSTERN_RESULT_NULL);
    /* A short reason buffer reports the size needed. */
    CHECK(postern_bounce_decide(after, POSTERN_SPF_FAIL, POSTERN_RECIPIENT_UNKNOWN, NULL, 0, NULL, 0, &decision,
                                (uint8_t *)reason, 4, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL &&
          len == strlen("spf_fail_unknown_recipient"));
}

static void test_starttls_feeds_the_proxy(void) {
    uint32_t decision = 99;
    char keywords[64];
    size_t len = 0;
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_GOOD, POSTERN_REPUTATION_BAD, 0, &decision, (uint8_t *)keywords,
                                  sizeof keywords, &len) == POSTERN_RESULT_OK);
    CHECK(decision == POSTERN_STARTTLS_OFFER && len == 0);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD, 0, &decision, (uint8_t *)keywords,
                                  sizeof keywords, &len) == POSTERN_RESULT_OK);
    CHECK(decision == POSTERN_STARTTLS_WITHHOLD && len > 0);
    /* The keyword list is what postern_proxy_new takes. */
    postern_proxy *p = NULL;
    CHECK(postern_proxy_new((const uint8_t *)keywords, len, 0, &p) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_server(p, BYTES("220 mx\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_client(p, BYTES("EHLO c\r\n")) == POSTERN_RESULT_OK);
    CHECK(postern_proxy_from_server(p, BYTES("250-mx\r\n250-STARTTLS\r\n250 REQUIRETLS\r\n")) == POSTERN_RESULT_OK);
    uint8_t out[128];
    size_t n = 0;
    CHECK(postern_proxy_take_to_client(p, out, sizeof out, &n) == POSTERN_RESULT_OK);
    CHECK(n == 16 && memcmp(out, "220 mx\r\n250 mx\r\n", 16) == 0);
    postern_proxy_free(p);
    /* Never withheld where the domain enforces TLS; TLS already active; thresholds. */
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD, POSTERN_STARTTLS_DOMAIN_ENFORCES_TLS,
                                  &decision, (uint8_t *)keywords, sizeof keywords, &len) == POSTERN_RESULT_OK &&
          decision == POSTERN_STARTTLS_OFFER);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD, POSTERN_STARTTLS_TLS_ACTIVE,
                                  &decision, (uint8_t *)keywords, sizeof keywords, &len) == POSTERN_RESULT_OK &&
          decision == POSTERN_STARTTLS_ALREADY_ACTIVE);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_NEVER, 0, &decision, (uint8_t *)keywords,
                                  sizeof keywords, &len) == POSTERN_RESULT_OK &&
          decision == POSTERN_STARTTLS_OFFER);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_NEVER, POSTERN_REPUTATION_BAD, 0, &decision, (uint8_t *)keywords,
                                  sizeof keywords, &len) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD,
                                  POSTERN_STARTTLS_OVERRIDE_OFFER | POSTERN_STARTTLS_OVERRIDE_WITHHOLD, &decision,
                                  (uint8_t *)keywords, sizeof keywords, &len) == POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD, 0, &decision, (uint8_t *)keywords,
                                  2, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL && len > 2);
    CHECK(postern_starttls_decide(POSTERN_REPUTATION_BAD, POSTERN_REPUTATION_BAD, 0, NULL, (uint8_t *)keywords,
                                  sizeof keywords, &len) == POSTERN_RESULT_NULL);
}

/* Peeks predict the check and record nothing: a caller that combines a per-client rate
 * limit with greylisting charges both or neither. */
static void test_peek_then_charge(void) {
    postern_rate_limiter *rl = NULL;
    postern_greylist *g = NULL;
    CHECK(postern_rate_limiter_new(2, 60000, 0, POSTERN_RATE_STRICT, 100, 32, 64, &rl) == POSTERN_RESULT_OK);
    CHECK(postern_greylist_new(POSTERN_GREYLIST_TRIPLET, 300000, 0, 0, 0, 100, 24, 64, &g) == POSTERN_RESULT_OK);
    uint32_t action = 0, peeked = 0;
    uint64_t ms = 0, peeked_ms = 0;
    char reply[POSTERN_REPLY_MAX];
    size_t len = 0;
#define RATE(fn, now)                                                                                           \
    fn(rl, POSTERN_SUBJECT_CLIENT, BYTES("192.0.2.10"), now, 1, false, &action, &ms, (uint8_t *)reply, sizeof reply, \
       &len)
#define GREY(fn, now) \
    fn(g, BYTES("192.0.2.10"), BYTES("a@example.org"), BYTES("b@example.net"), now, &action, &ms, NULL, 0, NULL)
    /* A first sighting, peeked many times, is never recorded: the delay has not started. */
    for (int i = 0; i < 5; i++) {
        CHECK(GREY(postern_greylist_peek, 1000 * i) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER &&
              ms == 300000);
    }
    CHECK(GREY(postern_greylist_peek, 400000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER);
    /* The rate limit's peek says yes and charges nothing, however often it is asked. */
    for (int i = 0; i < 5; i++) {
        CHECK(RATE(postern_rate_limiter_peek, 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT && len == 0);
    }
    /* The recipient at t = 0: the greylist's peek refuses, so the greylist alone is checked
     * (recording the first sighting; the check answers as the peek did) and the rate limit
     * is not charged. */
    CHECK(GREY(postern_greylist_peek, 0) == POSTERN_RESULT_OK);
    peeked = action;
    peeked_ms = ms;
    CHECK(GREY(postern_greylist_check, 0) == POSTERN_RESULT_OK && action == peeked && ms == peeked_ms);
    /* Two deliveries to other recipients, not greylisted, charge the limit. */
    CHECK(RATE(postern_rate_limiter_check, 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(RATE(postern_rate_limiter_check, 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    /* Now the limit refuses. In strict mode a refused check is recorded and pushes the retry
     * time out; a refused peek is not: the retry time stays 30 s. */
    for (int i = 0; i < 3; i++) {
        CHECK(RATE(postern_rate_limiter_peek, 0) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER &&
              ms == 30000 && len > 10 && memcmp(reply, "450 4.7.1 ", 10) == 0);
    }
    /* Had those refused peeks been recorded, the retry time would have grown by 30 s each;
     * it is 1 ms just before it ends. */
    CHECK(RATE(postern_rate_limiter_peek, 29999) == POSTERN_RESULT_OK && action == POSTERN_ACTION_DEFER && ms == 1);
    /* After the greylisting delay both peeks pass, so both are charged. */
    CHECK(RATE(postern_rate_limiter_peek, 300000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(GREY(postern_greylist_peek, 300000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(GREY(postern_greylist_check, 300000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    CHECK(RATE(postern_rate_limiter_check, 300000) == POSTERN_RESULT_OK && action == POSTERN_ACTION_ACCEPT);
    /* Misuse, as for the checks: NULL handle, short reply buffer, bad client. */
    CHECK(postern_rate_limiter_peek(NULL, POSTERN_SUBJECT_CLIENT, BYTES("192.0.2.10"), 0, 1, false, &action, &ms,
                                    NULL, 0, NULL) == POSTERN_RESULT_NULL);
    CHECK(postern_rate_limiter_peek(rl, POSTERN_SUBJECT_CLIENT, BYTES("192.0.2.10"), 0, 1, false, &action, &ms,
                                    (uint8_t *)reply, 16, &len) == POSTERN_RESULT_BUFFER_TOO_SMALL &&
          len == POSTERN_REPLY_MAX);
    CHECK(postern_rate_limiter_peek(rl, 9, BYTES("x"), 0, 1, false, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_greylist_peek(NULL, BYTES("192.0.2.10"), BYTES("a"), BYTES("b"), 0, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_NULL);
    CHECK(postern_greylist_peek(g, BYTES("192.0.2"), BYTES("a"), BYTES("b"), 0, &action, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_INVALID_ARGUMENT);
    CHECK(postern_greylist_peek(g, BYTES("192.0.2.10"), BYTES("a"), BYTES("b"), 0, NULL, &ms, NULL, 0, NULL) ==
          POSTERN_RESULT_NULL);
#undef RATE
#undef GREY
    postern_rate_limiter_free(rl);
    postern_greylist_free(g);
}

int main(void) {
    test_rate_limiter();
    test_greylist();
    test_peek_then_charge();
    test_penalty_box();
    test_concurrency();
    test_outbound_tls();
    test_bounce();
    test_starttls_feeds_the_proxy();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
