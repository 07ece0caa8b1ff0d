/* proxy_buffers: one SMTP proxy session between two in-memory "sockets", the way a C event
 * loop drives libpostern: feed what each peer sent, then drain what is due to each peer.
 * The upstream offers STARTTLS; the proxy withholds it and answers the client itself. */
#include <postern.h>

#include <stdio.h>
#include <string.h>

static int drain(postern_proxy *p, int to_server, char *dst, size_t cap) {
    size_t total = 0;
    uint8_t buf[16]; /* deliberately small: drained in several calls */
    for (;;) {
        size_t n = 0;
        uint32_t rc = to_server ? postern_proxy_take_to_server(p, buf, sizeof buf, &n)
                                : postern_proxy_take_to_client(p, buf, sizeof buf, &n);
        if (rc != POSTERN_RESULT_OK) {
            return -1;
        }
        if (n == 0) {
            break;
        }
        if (total + n >= cap) {
            return -1;
        }
        memcpy(dst + total, buf, n);
        total += n;
    }
    dst[total] = '\0';
    return (int)total;
}

static int step(postern_proxy *p, int from_client, const char *bytes) {
    uint32_t rc = from_client ? postern_proxy_from_client(p, (const uint8_t *)bytes, strlen(bytes))
                              : postern_proxy_from_server(p, (const uint8_t *)bytes, strlen(bytes));
    if (rc != POSTERN_RESULT_OK) {
        fprintf(stderr, "proxy: %s\n", postern_result_str(rc));
        return -1;
    }
    char up[1024];
    char down[1024];
    if (drain(p, 1, up, sizeof up) < 0 || drain(p, 0, down, sizeof down) < 0) {
        return -1;
    }
    if (up[0] != '\0') {
        printf(">> server: %s", up);
    }
    if (down[0] != '\0') {
        printf("<< client: %s", down);
    }
    return 0;
}

int main(void) {
    static const char withhold[] = "STARTTLS";
    postern_proxy *p = NULL;
    if (postern_proxy_new((const uint8_t *)withhold, strlen(withhold), 0, &p) != POSTERN_RESULT_OK) {
        return 1;
    }
    int ok = step(p, 0, "220 mx.example.net ESMTP\r\n") == 0 &&
             step(p, 1, "EHLO client.example\r\nSTARTTLS\r\n") == 0 &&
             step(p, 0, "250-mx.example.net\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n") == 0 &&
             step(p, 1, "QUIT\r\n") == 0 && step(p, 0, "221 2.0.0 Bye\r\n") == 0;
    uint32_t state = 0;
    uint64_t injected_client = 0;
    uint64_t injected_server = 0;
    ok = ok && postern_proxy_state(p, &state, &injected_client, &injected_server) == POSTERN_RESULT_OK &&
         state == POSTERN_PROXY_PLAINTEXT;
    postern_proxy_free(p);
    return ok ? 0 : 1;
}
