`default_nettype none
// PicoQuant T2 record decoder: 32-bit records in, (time, channel, kind) out, one per record.
//
// Twin of postproc.formats.pq_kernels.decode_t2_words(words, layout, overflow_in=0).
// LAYOUT 0 = PicoHarp 300 T2: bits 31..28 channel, 27..0 time tag; channel 15 = special, marker
//            mask in time[3:0], mask 0 = overflow of 210698240.
// LAYOUT 1 = HydraHarp V1 T2, 2 = HydraHarp V2 / TimeHarp 260 / MultiHarp / PicoHarp 330 T2:
//            bit 31 special, bits 30..25 channel, 24..0 time tag; special channel 63 = overflow
//            (V1: 33552000 per record; V2: 33554432 times the time field, 0 counting as 1),
//            special channel 0 = sync, 1..15 = marker mask, 16..62 invalid.
// m_axis_tdata = time = 64-bit overflow base (including this record's overflow) + time field;
// m_axis_tuser = {kind[2:0], channel[7:0]}, kind 0 photon, 1 overflow, 2 marker, 3 sync,
// 4 invalid; channel = photon channel, marker mask, 0 (sync/overflow) or the raw field (invalid).
module tag_decoder #(
    parameter integer LAYOUT = 2
) (
    input  wire        clk,
    input  wire        rst,
    input  wire [31:0] s_axis_tdata,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    output reg  [63:0] m_axis_tdata,
    output reg  [10:0] m_axis_tuser,
    output reg         m_axis_tvalid,
    input  wire        m_axis_tready
);
    localparam [2:0] K_PHOTON = 3'd0, K_OVERFLOW = 3'd1, K_MARKER = 3'd2, K_SYNC = 3'd3,
                     K_INVALID = 3'd4;
    localparam [63:0] PH_WRAP = 64'd210698240;
    localparam [63:0] HH1_WRAP = 64'd33552000;

    reg [63:0] ofl;
    wire [31:0] w = s_axis_tdata;

    // decode one record: overflow increment, time field, kind, channel
    reg [63:0] inc;
    reg [27:0] tt;
    reg [2:0]  kind;
    reg [7:0]  chan;
    always @* begin
        inc = 64'd0;
        if (LAYOUT == 0) begin
            tt = w[27:0];
            if (w[31:28] == 4'd15) begin
                if (w[3:0] == 4'd0) begin
                    inc = PH_WRAP;
                    kind = K_OVERFLOW;
                    chan = 8'd0;
                end else begin
                    kind = K_MARKER;
                    chan = {4'd0, w[3:0]};
                end
            end else begin
                kind = (w[31:28] <= 4'd4) ? K_PHOTON : K_INVALID;
                chan = {4'd0, w[31:28]};
            end
        end else begin
            tt = {3'd0, w[24:0]};
            chan = {2'd0, w[30:25]};
            if (!w[31]) begin
                kind = K_PHOTON;
            end else if (w[30:25] == 6'd63) begin
                kind = K_OVERFLOW;
                chan = 8'd0;
                if (LAYOUT == 1)
                    inc = HH1_WRAP;
                else  // count in the time field, 0 counts as 1; each wrap is 2^25
                    inc = (w[24:0] == 25'd0) ? (64'd1 << 25) : ({39'd0, w[24:0]} << 25);
            end else if (w[30:25] == 6'd0) begin
                kind = K_SYNC;
            end else if (w[30:25] <= 6'd15) begin
                kind = K_MARKER;
            end else begin
                kind = K_INVALID;
            end
        end
    end
    wire [63:0] base = ofl + inc;

    assign s_axis_tready = !m_axis_tvalid || m_axis_tready;
    wire in_fire = s_axis_tvalid && s_axis_tready;

    always @(posedge clk) begin
        if (rst) begin
            ofl <= 64'd0;
            m_axis_tvalid <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready)
                m_axis_tvalid <= 1'b0;
            if (in_fire) begin
                ofl <= base;
                m_axis_tdata <= base + {36'd0, tt};
                m_axis_tuser <= {kind, chan};
                m_axis_tvalid <= 1'b1;
            end
        end
    end
endmodule
`default_nettype wire
