/* Register-level HAL for a Cortex-M4 board (reference: STM32F405 with the time tagger FPGA on
 * the FSMC bus). Thin on purpose: it only maps the HAL calls onto registers.
 *
 *  - host link: USART1 (0x40011000) at 16 MHz HSI / 921600 baud, polled; a USB-CDC stack would
 *    implement the same two calls on its endpoint buffers.
 *  - tag FIFO: the FPGA exposes it at 0x60000000 (FSMC bank 1): LEVEL (words held, read only),
 *    DATA_LO and DATA_HI (reading DATA_HI pops the word), OVERFLOW (words dropped since the last
 *    read, read-to-clear), CTRL (bit 0 enables the tagger), CAPACITY.
 *  - timer: SysTick at 1 kHz plus its current value for microseconds.
 * Clock tree, GPIO alternate functions and the FSMC timing set-up are board specific and belong
 * in board_init(); the reset values are enough for the compile and size check. */
#include <stddef.h>
#include <stdint.h>

#include "acq.h"
#include "hal.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define USART1_BASE 0x40011000u
#define USART_SR REG(USART1_BASE + 0x00u)
#define USART_DR REG(USART1_BASE + 0x04u)
#define USART_BRR REG(USART1_BASE + 0x08u)
#define USART_CR1 REG(USART1_BASE + 0x0Cu)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_UE (1u << 13)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RE (1u << 2)

#define RCC_APB2ENR REG(0x40023844u)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define TAGFIFO_BASE 0x60000000u
#define TAGFIFO_LEVEL REG(TAGFIFO_BASE + 0x00u)
#define TAGFIFO_DATA_LO REG(TAGFIFO_BASE + 0x04u)
#define TAGFIFO_DATA_HI REG(TAGFIFO_BASE + 0x08u)
#define TAGFIFO_OVERFLOW REG(TAGFIFO_BASE + 0x0Cu)
#define TAGFIFO_CTRL REG(TAGFIFO_BASE + 0x10u)
#define TAGFIFO_CAPACITY REG(TAGFIFO_BASE + 0x14u)

#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define CPU_HZ 16000000u

static volatile uint32_t ticks_ms;

void SysTick_Handler(void) { ticks_ms++; }

uint64_t hal_time_us(void)
{
    uint32_t ms, cvr;
    do {
        ms = ticks_ms;
        cvr = SYST_CVR;
    } while (ms != ticks_ms);
    return (uint64_t)ms * 1000u + (CPU_HZ / 1000u - 1u - cvr) / (CPU_HZ / 1000000u);
}

size_t hal_link_write(const uint8_t *data, size_t n)
{
    size_t i = 0;
    while (i < n && (USART_SR & USART_SR_TXE)) USART_DR = data[i++];
    return i;
}

size_t hal_link_read(uint8_t *data, size_t max)
{
    size_t i = 0;
    while (i < max && (USART_SR & USART_SR_RXNE)) data[i++] = (uint8_t)USART_DR;
    return i;
}

size_t hal_fifo_pop(uint64_t *words, size_t max)
{
    size_t avail = TAGFIFO_LEVEL, n = avail < max ? avail : max;
    for (size_t i = 0; i < n; i++) {
        uint32_t lo = TAGFIFO_DATA_LO;
        words[i] = ((uint64_t)TAGFIFO_DATA_HI << 32) | lo;
    }
    return n;
}

uint32_t hal_fifo_take_overflow(void) { return TAGFIFO_OVERFLOW; }
uint32_t hal_fifo_level(void) { return TAGFIFO_LEVEL; }
uint32_t hal_fifo_capacity(void) { return TAGFIFO_CAPACITY; }
void hal_tagger_enable(int on) { TAGFIFO_CTRL = on ? 1u : 0u; }

/* freestanding build: the compiler may emit calls to these */
void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

static void board_init(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART_BRR = (CPU_HZ + 921600u / 2u) / 921600u;
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
    SYST_RVR = CPU_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

static acq_t acq;

int main(void)
{
    board_init();
    acq_init(&acq);
    for (;;) (void)acq_poll(&acq);
}

/* ---- start-up: vector table, .data copy, .bss clear ---- */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    (void)main();
    for (;;) {
    }
}

static void Default_Handler(void)
{
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0, Default_Handler,
    Default_Handler, 0, Default_Handler, SysTick_Handler,
};
