#include "commands.h"

#include "protocol.h"

uint8_t command_parse(const frame_t *f, command_t *cmd)
{
    switch (f->type) {
    case T_START:
    case T_STOP:
    case T_QUERY_STATUS:
        if (f->len != 0) return ACK_BAD_PAYLOAD;
        break;
    case T_PING:
        if (f->len > MAX_PING) return ACK_BAD_PAYLOAD;
        cmd->ping = f->payload;
        cmd->ping_len = f->len;
        break;
    case T_SET_GATE: {
        if (f->len != GATE_SIZE) return ACK_BAD_PAYLOAD;
        uint64_t period = get_le(f->payload, 8), offset = get_le(f->payload + 8, 8);
        uint64_t width = get_le(f->payload + 16, 8);
        if (period && (width > period || offset >= period)) return ACK_BAD_PAYLOAD;
        cmd->gate_period_ps = period;
        cmd->gate_offset_ps = offset;
        cmd->gate_width_ps = width;
        break;
    }
    case T_SET_CHANNEL_MAP:
        if (f->len != N_CHANNELS) return ACK_BAD_PAYLOAD;
        for (unsigned i = 0; i < N_CHANNELS; i++)
            if (f->payload[i] > 31u && f->payload[i] != 0xFFu) return ACK_BAD_PAYLOAD;
        for (unsigned i = 0; i < N_CHANNELS; i++) cmd->channel_map[i] = f->payload[i];
        break;
    default:
        return ACK_UNKNOWN_COMMAND;
    }
    cmd->type = f->type;
    return ACK_OK;
}
