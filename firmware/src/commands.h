/* Host command parser: validates a decoded command frame and turns it into settings. */
#ifndef QKDPP_COMMANDS_H
#define QKDPP_COMMANDS_H

#include <stdint.h>

#include "frame.h"

typedef struct {
    uint8_t type;
    uint64_t gate_period_ps, gate_offset_ps, gate_width_ps; /* T_SET_GATE */
    uint8_t channel_map[32];                                /* T_SET_CHANNEL_MAP */
    const uint8_t *ping;                                    /* T_PING echo data */
    uint16_t ping_len;
} command_t;

/* Parse a command frame; returns ACK_OK and fills cmd, or an ACK_* error (cmd untouched). */
uint8_t command_parse(const frame_t *f, command_t *cmd);

#endif
