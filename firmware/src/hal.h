/* Hardware abstraction of the acquisition controller: time-tagger FIFO, host link, timer.
 * hal_posix.c implements it on a pseudo-terminal and a tag file (the virtual time tagger);
 * cortexm/hal_cortexm.c on memory-mapped registers of a Cortex-M board. All calls are
 * non-blocking. */
#ifndef QKDPP_HAL_H
#define QKDPP_HAL_H

#include <stddef.h>
#include <stdint.h>

/* Pop up to max tag words (bits 0..58 time ps, bits 59..63 channel); returns how many. */
size_t hal_fifo_pop(uint64_t *words, size_t max);
/* Words the FIFO dropped because it was full, since the previous call (read-and-clear). */
uint32_t hal_fifo_take_overflow(void);
/* Words currently held and capacity, for the high-water mark. */
uint32_t hal_fifo_level(void);
uint32_t hal_fifo_capacity(void);
/* Start (1) or stop (0) the time tagger feeding the FIFO. */
void hal_tagger_enable(int on);

/* Send up to n bytes; returns how many the link accepted (0 when its buffer is full). */
size_t hal_link_write(const uint8_t *data, size_t n);
/* Receive up to max bytes; returns how many were available. */
size_t hal_link_read(uint8_t *data, size_t max);

/* Monotonic microseconds since boot. */
uint64_t hal_time_us(void);

#endif
