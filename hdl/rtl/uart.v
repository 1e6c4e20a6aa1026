// 8N1 UART, both directions; the reference is hil/uart.py (uart_tx_line / uart_rx_bytes).
//
// TX: a byte accepted on s_axis at clock edge h is sent from the next cycle on: CLKS_PER_BIT
// cycles each of start (0), data LSB first, stop (1). s_axis_tready is also high in the last
// cycle of the stop bit, so back-to-back bytes take exactly 10*CLKS_PER_BIT cycles each.
//
// RX: rxd passes a two-flop synchroniser (reset to idle high), then the reference's machine: a
// start is a 1->0 edge of the synchronised line; bit k is sampled CLKS_PER_BIT/2 + k*CLKS_PER_BIT
// cycles after the edge cycle; a high start sample is a glitch (ignored), a low stop sample a
// framing error (byte dropped, rx_frame_err pulses for one cycle, rx_frame_errors counts, wrapping).
// The received byte waits in m_axis_tdata; a byte completed while the previous one is still not
// accepted is dropped and rx_overrun pulses (the sink has 9 bit times to take each byte).
`default_nettype none

module uart #(
    parameter integer CLKS_PER_BIT = 4   // >= 2
) (
    input  wire        clk,
    input  wire        rst,
    // transmitter
    input  wire [7:0]  s_axis_tdata,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    output wire        txd,
    // receiver
    input  wire        rxd,
    output reg  [7:0]  m_axis_tdata,
    output reg         m_axis_tvalid,
    input  wire        m_axis_tready,
    output reg         rx_frame_err,
    output reg  [15:0] rx_frame_errors,
    output reg         rx_overrun
);
    localparam integer CW = $clog2(CLKS_PER_BIT + 1);
    localparam integer LAST_I = CLKS_PER_BIT - 1;
    localparam integer HALF_M1_I = CLKS_PER_BIT / 2 - 1;
    localparam [CW-1:0] LAST = LAST_I[CW-1:0];
    localparam [CW-1:0] HALF_M1 = HALF_M1_I[CW-1:0];

    // ------------------------------------------------------------------ transmitter
    reg          tx_busy;
    reg  [9:0]   tx_shift;   // bit 0 on the line
    reg  [3:0]   tx_bit;     // 0 = start .. 9 = stop
    reg  [CW-1:0] tx_cnt;    // cycles left in the current bit, minus one

    wire tx_bit_end = tx_cnt == 0;
    assign s_axis_tready = !tx_busy || (tx_bit_end && tx_bit == 4'd9);
    assign txd = tx_busy ? tx_shift[0] : 1'b1;

    always @(posedge clk) begin
        if (rst) begin
            tx_busy  <= 1'b0;
            tx_shift <= 10'h3ff;
            tx_bit   <= 4'd0;
            tx_cnt   <= 0;
        end else if (s_axis_tvalid && s_axis_tready) begin
            tx_busy  <= 1'b1;
            tx_shift <= {1'b1, s_axis_tdata, 1'b0};
            tx_bit   <= 4'd0;
            tx_cnt   <= LAST;
        end else if (tx_busy) begin
            if (!tx_bit_end) begin
                tx_cnt <= tx_cnt - 1'b1;
            end else if (tx_bit == 4'd9) begin
                tx_busy <= 1'b0;
            end else begin
                tx_shift <= {1'b1, tx_shift[9:1]};
                tx_bit   <= tx_bit + 1'b1;
                tx_cnt   <= LAST;
            end
        end
    end

    // ------------------------------------------------------------------ receiver
    reg          rx_meta, rx_sync, rx_prev;
    reg          rx_busy;
    reg  [3:0]   rx_bit;
    reg  [CW-1:0] rx_cnt;
    reg  [7:0]   rx_shift;

    always @(posedge clk) begin
        if (rst) begin
            rx_meta         <= 1'b1;
            rx_sync         <= 1'b1;
            rx_prev         <= 1'b1;
            rx_busy         <= 1'b0;
            rx_bit          <= 4'd0;
            rx_cnt          <= 0;
            rx_shift        <= 8'd0;
            m_axis_tdata    <= 8'd0;
            m_axis_tvalid   <= 1'b0;
            rx_frame_err    <= 1'b0;
            rx_frame_errors <= 16'd0;
            rx_overrun      <= 1'b0;
        end else begin
            rx_meta      <= rxd;
            rx_sync      <= rx_meta;
            rx_prev      <= rx_sync;
            rx_frame_err <= 1'b0;
            rx_overrun   <= 1'b0;
            if (m_axis_tvalid && m_axis_tready)
                m_axis_tvalid <= 1'b0;
            if (!rx_busy) begin
                if (rx_prev && !rx_sync) begin   // falling edge: this cycle is the edge cycle
                    rx_busy <= 1'b1;
                    rx_bit  <= 4'd0;
                    rx_cnt  <= HALF_M1;
                end
            end else if (rx_cnt != 0) begin
                rx_cnt <= rx_cnt - 1'b1;
            end else begin                       // sample point of bit rx_bit
                rx_cnt <= LAST;
                rx_bit <= rx_bit + 1'b1;
                if (rx_bit == 4'd0) begin
                    if (rx_sync)                 // start sample high: a glitch
                        rx_busy <= 1'b0;
                end else if (rx_bit != 4'd9) begin
                    rx_shift <= {rx_sync, rx_shift[7:1]};
                end else begin
                    rx_busy <= 1'b0;
                    if (!rx_sync) begin
                        rx_frame_err    <= 1'b1;
                        rx_frame_errors <= rx_frame_errors + 1'b1;
                    end else if (m_axis_tvalid && !m_axis_tready) begin
                        rx_overrun <= 1'b1;
                    end else begin
                        m_axis_tdata  <= rx_shift;
                        m_axis_tvalid <= 1'b1;
                    end
                end
            end
        end
    end
endmodule

`default_nettype wire
