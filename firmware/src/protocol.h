/* qkdpp wire protocol constants; mirror of hil/protocol.py (see hil/PROTOCOL.md).
 * Every multi-byte field on the wire is little-endian; this code never relies on host order. */
#ifndef QKDPP_PROTOCOL_H
#define QKDPP_PROTOCOL_H

#include <stdint.h>

#define PROTOCOL_VERSION 1u
#define HEADER_SIZE 8u /* type u8, version u8, payload length u16, sequence number u32 */
#define CRC_SIZE 4u
#define MAX_PAYLOAD 4096u
#define MAX_RAW (HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE)
#define MAX_ENCODED (MAX_RAW + MAX_RAW / 254u + 1u)

/* frame types: device -> host below 0x10, host -> device from 0x10 */
#define T_EVENTS 0x01u
#define T_STATUS 0x02u
#define T_ACK 0x03u
#define T_PONG 0x04u
#define T_START 0x10u
#define T_STOP 0x11u
#define T_SET_GATE 0x12u
#define T_SET_CHANNEL_MAP 0x13u
#define T_QUERY_STATUS 0x14u
#define T_PING 0x15u

/* framing error codes (same numbers in Python and in the shared vectors) */
#define E_OK 0
#define E_COBS 1
#define E_SHORT 2
#define E_CRC 3
#define E_VERSION 4
#define E_LENGTH 5
#define E_PAYLOAD 6

/* ack results */
#define ACK_OK 0u
#define ACK_BAD_PAYLOAD 1u
#define ACK_UNKNOWN_COMMAND 2u
#define ACK_BAD_STATE 3u

/* events payload: base_time_ps i64, first_index u64, fifo_lost u32, n_tags u32, tags u32;
 * tag = ps after the previous tag of the frame (the first: after base_time) | channel << 27 */
#define EVENT_HEADER_SIZE 24u
#define TAG_DT_BITS 27u
#define TAG_DT_MASK ((1u << TAG_DT_BITS) - 1u)
#define TAG_XOR 0xA5A5A5A5u /* tag words are scrambled on the wire: long COBS blocks */
#define MAX_TAGS_PER_FRAME ((MAX_PAYLOAD - EVENT_HEADER_SIZE) / 4u)

/* tag word from the time tagger FIFO: bits 0..58 time ps, bits 59..63 channel */
#define WORD_TIME_BITS 59u
#define WORD_TIME_MASK ((UINT64_C(1) << WORD_TIME_BITS) - 1u)

#define N_CHANNELS 32u
#define STATUS_HEADER_SIZE 56u
#define STATUS_SIZE (STATUS_HEADER_SIZE + 8u * N_CHANNELS)
#define GATE_SIZE 24u
#define ACK_SIZE 8u
#define MAX_PING 64u

#define FW_VERSION_MAJOR 1u
#define FW_VERSION_MINOR 0u
#define FW_VERSION_PATCH 0u

#endif
