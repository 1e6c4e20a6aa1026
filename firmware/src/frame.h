/* Frame codec: CRC-32C, COBS, frame build/decode. Pure functions, no allocation, no HAL. */
#ifndef QKDPP_FRAME_H
#define QKDPP_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected 0x82F63B78, init and final xor 0xFFFFFFFF). */
uint32_t crc32c(const uint8_t *data, size_t n);

/* COBS-encode n bytes into dst (room for n + n/254 + 1); returns the encoded length.
 * No delimiter is appended; the output contains no zero byte. */
size_t cobs_encode(const uint8_t *src, size_t n, uint8_t *dst);

/* Decode n COBS bytes (no delimiter) into dst (room for cap); returns the length, -1 if the
 * input is not valid COBS, -2 if the output would exceed cap (checked block by block, in the
 * same order as hil/codec.py). */
long cobs_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);

/* Fill raw[0..HEADER_SIZE) and the CRC after a payload already at raw + HEADER_SIZE;
 * returns the raw frame length (header + payload + crc). */
size_t frame_seal(uint8_t *raw, uint8_t type, uint32_t seq, size_t payload_len);

/* Build COBS(header | payload | crc) | 0x00 into out (room for MAX_ENCODED + 1) using raw as
 * scratch (room for MAX_RAW); returns the number of bytes to send. */
size_t frame_encode(uint8_t type, uint32_t seq, const uint8_t *payload, size_t len,
                    uint8_t *raw, uint8_t *out);

typedef struct {
    uint8_t type;
    uint32_t seq;
    const uint8_t *payload; /* points into the caller's raw buffer */
    uint16_t len;
} frame_t;

/* Decode one encoded frame (delimiter excluded) into raw (room for MAX_RAW); checks in order
 * encoded length, COBS (decoded length over MAX_RAW = E_LENGTH), short, CRC,
 * version, length field. Returns E_OK or an E_* code. */
int frame_decode(const uint8_t *enc, size_t n, uint8_t *raw, frame_t *out);

static inline void put_le(uint8_t *p, uint64_t v, unsigned nbytes)
{
    for (unsigned k = 0; k < nbytes; k++) p[k] = (uint8_t)(v >> (8u * k));
}

static inline uint64_t get_le(const uint8_t *p, unsigned nbytes)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < nbytes; k++) v |= (uint64_t)p[k] << (8u * k);
    return v;
}

#endif
