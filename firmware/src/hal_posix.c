/* Host build of the firmware: the virtual time tagger.
 *
 * The host link is a POSIX pseudo-terminal (tests and demos open its slave with pyserial exactly
 * like /dev/ttyUSB0); the time tagger FIFO is fed from a tag file (magic "QKDTAG01" then
 * little-endian u64 tag words, written by hil.tagfile). Without --rate the feeder keeps the FIFO
 * full and never loses a word (back-pressure); with --rate R it pushes R words per second of wall
 * time and counts overflows like real hardware when the link cannot keep up.
 *
 *   vtagger --tags FILE [--link SYMLINK] [--rate EVENTS_PER_S] [--fifo WORDS] [--loop]
 *           [--max-tags N]
 * prints "PTY <slave path>" on stdout once the link is up, runs until SIGTERM/SIGINT. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "acq.h"
#include "hal.h"

static int master_fd = -1;
static FILE *tag_file;
static long tags_start;
static uint64_t *fifo;
static uint32_t fifo_cap = 65536, fifo_head, fifo_count, fifo_overflow;
static int tagger_on, loop_file, file_done;
static double rate;
static uint64_t enabled_at_us, pushed_since_enable;
static int64_t time_offset, last_time;
static volatile sig_atomic_t stop_requested;
static uint64_t boot_us;

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t hal_time_us(void) { return monotonic_us() - boot_us; }

size_t hal_link_write(const uint8_t *data, size_t n)
{
    ssize_t w = write(master_fd, data, n);
    return w > 0 ? (size_t)w : 0;
}

size_t hal_link_read(uint8_t *data, size_t max)
{
    ssize_t r = read(master_fd, data, max);
    return r > 0 ? (size_t)r : 0;
}

size_t hal_fifo_pop(uint64_t *words, size_t max)
{
    size_t n = 0;
    while (n < max && fifo_count) {
        words[n++] = fifo[fifo_head];
        fifo_head = (fifo_head + 1u) % fifo_cap;
        fifo_count--;
    }
    return n;
}

uint32_t hal_fifo_take_overflow(void)
{
    uint32_t n = fifo_overflow;
    fifo_overflow = 0;
    return n;
}

uint32_t hal_fifo_level(void) { return fifo_count; }
uint32_t hal_fifo_capacity(void) { return fifo_cap; }

void hal_tagger_enable(int on)
{
    if (on && !tagger_on) {
        enabled_at_us = hal_time_us();
        pushed_since_enable = 0;
    }
    tagger_on = on;
}

/* Next tag word of the file (rewinding with a time offset under --loop); 0 at the end. */
static int next_word(uint64_t *w)
{
    uint8_t b[8];
    for (;;) {
        if (file_done) return 0;
        if (fread(b, 1, 8, tag_file) == 8) break;
        if (!loop_file) {
            file_done = 1;
            return 0;
        }
        time_offset = last_time + 1000000; /* replay 1 us after the last tag */
        fseek(tag_file, tags_start, SEEK_SET);
    }
    uint64_t word = 0;
    for (int k = 0; k < 8; k++) word |= (uint64_t)b[k] << (8 * k);
    int64_t t = (int64_t)(word & WORD_TIME_MASK) + time_offset;
    if (loop_file && t > last_time) last_time = t;
    *w = (word & ~WORD_TIME_MASK) | ((uint64_t)t & WORD_TIME_MASK);
    return 1;
}

static void feed_fifo(void)
{
    if (!tagger_on) return;
    uint64_t due = UINT64_MAX;
    if (rate > 0) {
        double target = rate * (double)(hal_time_us() - enabled_at_us) * 1e-6;
        due = target > (double)pushed_since_enable ? (uint64_t)target - pushed_since_enable : 0;
    } else if (fifo_count == fifo_cap) {
        return; /* lossless replay: wait for room */
    }
    uint64_t w;
    while (due > 0) {
        if (rate <= 0 && fifo_count == fifo_cap) return;
        if (!next_word(&w)) return;
        due--;
        pushed_since_enable++;
        if (fifo_count == fifo_cap) {
            fifo_overflow++;
            continue;
        }
        fifo[(fifo_head + fifo_count) % fifo_cap] = w;
        fifo_count++;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int open_pty(const char *link, int *slave_fd)
{
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) || unlockpt(master_fd)) return -1;
    const char *name = ptsname(master_fd);
    if (!name) return -1;
    /* keep one slave descriptor open so the pty survives the host closing and reopening it */
    *slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (*slave_fd < 0) return -1;
    struct termios tio;
    tcgetattr(*slave_fd, &tio);
    cfmakeraw(&tio);
    tcsetattr(*slave_fd, TCSANOW, &tio);
    fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
    if (link) {
        unlink(link);
        if (symlink(name, link)) return -1;
    }
    printf("PTY %s\n", link ? link : name);
    fflush(stdout);
    return 0;
}

static acq_t acq;

int main(int argc, char **argv)
{
    const char *tags = NULL, *link = NULL;
    unsigned max_tags = MAX_TAGS_PER_FRAME;
    static const struct option opts[] = {
        {"tags", required_argument, 0, 't'}, {"link", required_argument, 0, 'l'},
        {"rate", required_argument, 0, 'r'}, {"fifo", required_argument, 0, 'f'},
        {"loop", no_argument, 0, 'L'},      {"max-tags", required_argument, 0, 'm'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': tags = optarg; break;
        case 'l': link = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'f': fifo_cap = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'L': loop_file = 1; break;
        case 'm': max_tags = (unsigned)strtoul(optarg, NULL, 10); break;
        default: fprintf(stderr, "usage: vtagger --tags FILE [--link PATH] [--rate R] "
                                 "[--fifo N] [--loop] [--max-tags N]\n");
                 return 2;
        }
    }
    if (!tags || fifo_cap == 0 || max_tags == 0 || max_tags > MAX_TAGS_PER_FRAME) {
        fprintf(stderr, "vtagger: --tags FILE is required; --fifo > 0; --max-tags 1..%u\n",
                MAX_TAGS_PER_FRAME);
        return 2;
    }
    tag_file = fopen(tags, "rb");
    char magic[8];
    if (!tag_file || fread(magic, 1, 8, tag_file) != 8 || memcmp(magic, "QKDTAG01", 8)) {
        fprintf(stderr, "vtagger: %s: not a tag file (magic QKDTAG01 expected at offset 0)\n",
                tags);
        return 2;
    }
    tags_start = ftell(tag_file);
    fifo = calloc(fifo_cap, sizeof *fifo);
    int slave_fd;
    if (!fifo || open_pty(link, &slave_fd)) {
        fprintf(stderr, "vtagger: cannot set up the pseudo-terminal: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    boot_us = monotonic_us();
    acq_init(&acq);
    acq.max_tags = max_tags;
    while (!stop_requested) {
        feed_fifo();
        if (!acq_poll(&acq)) {
            /* nothing to do: sleep until the host sends or drains the link, at most 1 ms */
            short events = (short)(POLLIN | (acq_tx_pending(&acq) ? POLLOUT : 0));
            struct pollfd p = {master_fd, events, 0};
            poll(&p, 1, 1);
        }
    }
    if (link) unlink(link);
    close(slave_fd);
    close(master_fd);
    return 0;
}
