#include "acq.h"

#include <string.h>

#include "commands.h"
#include "frame.h"
#include "hal.h"

void acq_init(acq_t *a)
{
    memset(a, 0, sizeof *a);
    a->max_tags = MAX_TAGS_PER_FRAME;
    for (unsigned i = 0; i < N_CHANNELS; i++) a->channel_map[i] = (uint8_t)i;
}

void acq_start(acq_t *a)
{
    memset(a->counts, 0, sizeof a->counts);
    a->running = 1;
    hal_tagger_enable(1);
}

void acq_stop(acq_t *a)
{
    hal_tagger_enable(0);
    a->running = 0;
    acq_flush(a);
}

void acq_flush(acq_t *a)
{
    if (a->ev_tags > 0 || a->fifo_lost > 0) a->ev_closed = 1;
}

static void queue_reply(acq_t *a, uint8_t type, const uint8_t *payload, uint16_t len)
{
    if (a->ctl_count == ACQ_CTL_QUEUE) return; /* host floods commands: it will time out, retry */
    acq_reply_t *r = &a->ctl[(a->ctl_head + a->ctl_count) % ACQ_CTL_QUEUE];
    r->type = type;
    r->len = len;
    if (len) memcpy(r->payload, payload, len);
    a->ctl_count++;
}

uint16_t acq_status_payload(const acq_t *a, uint8_t *out)
{
    uint32_t ver = (FW_VERSION_MAJOR << 16) | (FW_VERSION_MINOR << 8) | FW_VERSION_PATCH;
    put_le(out + 0, ver, 4);
    put_le(out + 4, a->fifo_high_water, 4);
    put_le(out + 8, hal_fifo_capacity(), 4);
    put_le(out + 12, a->frames_sent, 4);
    put_le(out + 16, a->dropped_total, 8);
    put_le(out + 24, a->gated_total, 8);
    put_le(out + 32, a->sent_total, 8);
    put_le(out + 40, hal_time_us() / 1000u, 8);
    put_le(out + 48, a->rx_errors, 4);
    out[52] = (uint8_t)a->running;
    out[53] = (uint8_t)N_CHANNELS;
    put_le(out + 54, 0, 2);
    for (unsigned i = 0; i < N_CHANNELS; i++) put_le(out + STATUS_HEADER_SIZE + 8u * i, a->counts[i], 8);
    return (uint16_t)STATUS_SIZE;
}

static void handle_frame(acq_t *a, const uint8_t *enc, size_t n)
{
    frame_t f;
    if (frame_decode(enc, n, a->rx_raw, &f) != E_OK) {
        a->rx_errors++;
        return;
    }
    command_t cmd;
    uint8_t result = command_parse(&f, &cmd);
    if (result == ACK_OK && cmd.type == T_PING) {
        queue_reply(a, T_PONG, cmd.ping, cmd.ping_len);
        return;
    }
    if (result == ACK_OK && cmd.type == T_QUERY_STATUS) {
        uint8_t status[STATUS_SIZE];
        queue_reply(a, T_STATUS, status, acq_status_payload(a, status));
        return;
    }
    if (result == ACK_OK) {
        switch (cmd.type) {
        case T_START: acq_start(a); break;
        case T_STOP: acq_stop(a); break;
        case T_SET_GATE:
            a->gate_period = cmd.gate_period_ps;
            a->gate_offset = cmd.gate_offset_ps;
            a->gate_width = cmd.gate_width_ps;
            break;
        case T_SET_CHANNEL_MAP: memcpy(a->channel_map, cmd.channel_map, N_CHANNELS); break;
        default: break;
        }
    }
    uint8_t ack[ACK_SIZE];
    put_le(ack, f.seq, 4);
    ack[4] = f.type;
    ack[5] = result;
    put_le(ack + 6, 0, 2);
    queue_reply(a, T_ACK, ack, ACK_SIZE);
}

static int receive(acq_t *a)
{
    uint8_t buf[256];
    size_t n = hal_link_read(buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == 0) {
            if (a->rx_overlong) a->rx_errors++;
            else if (a->rx_len) handle_frame(a, a->rx, a->rx_len);
            a->rx_len = 0;
            a->rx_overlong = 0;
        } else if (a->rx_len < sizeof a->rx) {
            a->rx[a->rx_len++] = buf[i];
        } else {
            a->rx_overlong = 1;
        }
    }
    return n != 0;
}

static uint8_t *ev_payload(acq_t *a) { return a->ev_raw + HEADER_SIZE; }

static int keep_event(const acq_t *a, uint64_t t)
{
    if (!a->gate_period) return 1;
    uint64_t phase = (t + a->gate_period - a->gate_offset) % a->gate_period;
    return phase < a->gate_width;
}

/* Try to append one tag word to the open frame; 0 if it does not fit (frame closed). */
static int append_word(acq_t *a, uint64_t word)
{
    uint8_t ch = a->channel_map[(unsigned)(word >> WORD_TIME_BITS)];
    int64_t t = (int64_t)(word & WORD_TIME_MASK);
    if (ch == 0xFFu || !keep_event(a, (uint64_t)t)) {
        a->gated_total++;
        return 1;
    }
    if (a->ev_tags == 0) {
        a->ev_base = t;
        a->ev_prev = t;
        a->ev_first_index = a->next_index;
        a->ev_opened_us = hal_time_us();
    } else if (t < a->ev_prev || (uint64_t)(t - a->ev_prev) > TAG_DT_MASK ||
               a->ev_tags >= a->max_tags) {
        a->ev_closed = 1; /* earlier, too long a pause, or full: the tag opens the next frame */
        return 0;
    }
    uint32_t w = ((uint32_t)(t - a->ev_prev) | ((uint32_t)ch << TAG_DT_BITS)) ^ TAG_XOR;
    a->ev_prev = t;
    put_le(ev_payload(a) + EVENT_HEADER_SIZE + 4u * a->ev_tags, w, 4);
    a->ev_tags++;
    a->next_index++;
    a->sent_total++;
    a->counts[ch]++;
    a->last_time = t;
    return 1;
}

static int read_fifo(acq_t *a)
{
    uint32_t lost = hal_fifo_take_overflow();
    a->fifo_lost += lost;
    a->dropped_total += lost;
    int did = lost != 0;
    while (!a->ev_closed) {
        if (a->pend_i == a->pend_n) {
            uint32_t level = hal_fifo_level();
            if (level > a->fifo_high_water) a->fifo_high_water = level;
            a->pend_n = (uint32_t)hal_fifo_pop(a->pend, ACQ_POP_WORDS);
            a->pend_i = 0;
            if (a->pend_n == 0) break;
        }
        if (!append_word(a, a->pend[a->pend_i])) break; /* word stays pending for the next frame */
        a->pend_i++;
        did = 1;
    }
    if (!a->ev_closed && a->ev_tags > 0 && hal_time_us() - a->ev_opened_us >= ACQ_FLUSH_US)
        a->ev_closed = 1;
    if (!a->ev_closed && a->ev_tags == 0 && a->fifo_lost > 0) a->ev_closed = 1;
    return did;
}

/* Seal the closed event frame and COBS-encode it into tx. */
static void emit_events(acq_t *a)
{
    uint8_t *p = ev_payload(a);
    int64_t base = a->ev_tags ? a->ev_base : a->last_time;
    put_le(p, (uint64_t)base, 8);
    put_le(p + 8, a->ev_tags ? a->ev_first_index : a->next_index, 8);
    put_le(p + 16, a->fifo_lost, 4);
    put_le(p + 20, a->ev_tags, 4);
    size_t m = frame_seal(a->ev_raw, T_EVENTS, a->tx_seq++, EVENT_HEADER_SIZE + 4u * a->ev_tags);
    size_t e = cobs_encode(a->ev_raw, m, a->tx);
    a->tx[e] = 0;
    a->tx_len = (uint32_t)e + 1u;
    a->tx_off = 0;
    a->frames_sent++;
    a->fifo_lost = 0;
    a->ev_tags = 0;
    a->ev_closed = 0;
}

static void emit_reply(acq_t *a)
{
    acq_reply_t *r = &a->ctl[a->ctl_head];
    a->tx_len = (uint32_t)frame_encode(r->type, a->tx_seq++, r->payload, r->len, a->rx_raw, a->tx);
    a->tx_off = 0;
    a->frames_sent++;
    a->ctl_head = (a->ctl_head + 1u) % ACQ_CTL_QUEUE;
    a->ctl_count--;
}

static int transmit(acq_t *a)
{
    int did = 0;
    for (;;) {
        if (a->tx_off < a->tx_len) {
            size_t n = hal_link_write(a->tx + a->tx_off, a->tx_len - a->tx_off);
            if (n == 0) return did;
            a->tx_off += (uint32_t)n;
            did = 1;
            if (a->tx_off < a->tx_len) return did;
        }
        if (a->ctl_count) emit_reply(a); /* replies overtake queued events */
        else if (a->ev_closed) emit_events(a);
        else return did;
    }
}

int acq_poll(acq_t *a)
{
    int did = receive(a);
    did |= transmit(a);
    if (a->running || a->pend_i < a->pend_n) did |= read_fifo(a);
    else acq_flush(a);
    did |= transmit(a);
    return did;
}
