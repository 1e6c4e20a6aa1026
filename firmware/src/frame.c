#include "frame.h"

#include <string.h>

#include "protocol.h"

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
        crc_table[i] = c;
    }
    crc_ready = 1;
}

uint32_t crc32c(const uint8_t *data, size_t n)
{
    if (!crc_ready) crc_init();
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ data[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

size_t cobs_encode(const uint8_t *src, size_t n, uint8_t *dst)
{
    size_t code_at = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            dst[o++] = src[i];
            if (++code == 0xFF) {
                dst[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return o;
}

long cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = src[i++];
        if (code == 0) return -1;
        size_t run = (size_t)code - 1u;
        if (run > n - i) return -1;
        if (run > cap - o) return -2;
        for (size_t k = 0; k < run; k++) {
            if (src[i + k] == 0) return -1;
            dst[o + k] = src[i + k];
        }
        o += run;
        i += run;
        if (code != 0xFF && i < n) {
            if (o >= cap) return -2;
            dst[o++] = 0;
        }
    }
    return (long)o;
}

size_t frame_seal(uint8_t *raw, uint8_t type, uint32_t seq, size_t payload_len)
{
    raw[0] = type;
    raw[1] = PROTOCOL_VERSION;
    put_le(raw + 2, payload_len, 2);
    put_le(raw + 4, seq, 4);
    size_t m = HEADER_SIZE + payload_len;
    put_le(raw + m, crc32c(raw, m), 4);
    return m + CRC_SIZE;
}

size_t frame_encode(uint8_t type, uint32_t seq, const uint8_t *payload, size_t len,
                    uint8_t *raw, uint8_t *out)
{
    if (len && payload != raw + HEADER_SIZE) memmove(raw + HEADER_SIZE, payload, len);
    size_t m = frame_seal(raw, type, seq, len);
    size_t e = cobs_encode(raw, m, out);
    out[e] = 0;
    return e + 1;
}

int frame_decode(const uint8_t *enc, size_t n, uint8_t *raw, frame_t *out)
{
    if (n > MAX_ENCODED) return E_LENGTH;
    long m = cobs_decode(enc, n, raw, MAX_RAW);
    if (m == -2) return E_LENGTH;
    if (m < 0) return E_COBS;
    if ((size_t)m < HEADER_SIZE + CRC_SIZE) return E_SHORT;
    size_t body = (size_t)m - CRC_SIZE;
    if (crc32c(raw, body) != (uint32_t)get_le(raw + body, 4)) return E_CRC;
    if (raw[1] != PROTOCOL_VERSION) return E_VERSION;
    uint16_t len = (uint16_t)get_le(raw + 2, 2);
    if ((size_t)len != body - HEADER_SIZE) return E_LENGTH;
    out->type = raw[0];
    out->seq = (uint32_t)get_le(raw + 4, 4);
    out->payload = raw + HEADER_SIZE;
    out->len = len;
    return E_OK;
}
