/* Acquisition controller: FIFO tag words -> event frames on the host link; commands -> replies.
 * One acq_poll() call does a bounded amount of work and never blocks. */
#ifndef QKDPP_ACQ_H
#define QKDPP_ACQ_H

#include <stdint.h>

#include "protocol.h"

#define ACQ_CTL_QUEUE 4u
#define ACQ_POP_WORDS 64u
#define ACQ_FLUSH_US 1000u /* a partly filled event frame leaves at most this long after its first tag */

typedef struct {
    uint8_t type;
    uint16_t len;
    uint8_t payload[STATUS_SIZE];
} acq_reply_t;

typedef struct {
    int running;
    uint32_t tx_seq;        /* sequence number of the next frame sent */
    uint64_t next_index;    /* index of the next event put in a frame (from boot) */
    uint32_t fifo_lost;     /* FIFO overflows not yet reported in an event frame */
    uint32_t max_tags;      /* tags per frame, <= MAX_TAGS_PER_FRAME */
    uint64_t dropped_total, gated_total, sent_total;
    uint32_t frames_sent, rx_errors, fifo_high_water;
    uint64_t counts[N_CHANNELS];
    uint8_t channel_map[N_CHANNELS];
    uint64_t gate_period, gate_offset, gate_width;
    /* event frame under construction: payload written in place in ev_raw */
    uint8_t ev_raw[MAX_RAW];
    uint32_t ev_tags;
    int ev_closed;
    int64_t ev_base, ev_prev; /* first and latest tag time of the open frame */
    uint64_t ev_first_index, ev_opened_us;
    int64_t last_time;
    uint64_t pend[64]; /* words popped from the FIFO, not yet framed */
    uint32_t pend_i, pend_n;
    /* outgoing bytes */
    uint8_t tx[MAX_ENCODED + 1];
    uint32_t tx_len, tx_off;
    acq_reply_t ctl[ACQ_CTL_QUEUE];
    uint32_t ctl_head, ctl_count;
    /* incoming bytes */
    uint8_t rx[MAX_ENCODED + 1];
    uint8_t rx_raw[MAX_RAW];
    uint32_t rx_len;
    int rx_overlong;
} acq_t;

void acq_init(acq_t *a);
/* One step: receive and answer commands, read the FIFO, send frames. Returns nonzero if it did
 * anything (the host build sleeps on the pty otherwise). */
int acq_poll(acq_t *a);
/* Used by START/STOP and by tests. */
void acq_start(acq_t *a);
void acq_stop(acq_t *a);
/* Close the open event frame now (also done on STOP and by the flush timeout). */
void acq_flush(acq_t *a);
/* Nonzero while encoded bytes wait for the link. */
static inline int acq_tx_pending(const acq_t *a) { return a->tx_off < a->tx_len; }
/* Build the STATUS payload into out (STATUS_SIZE bytes); returns its length. */
uint16_t acq_status_payload(const acq_t *a, uint8_t *out);

#endif
