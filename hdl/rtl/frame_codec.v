`default_nettype none
// Frame codec of the qkdpp serial link (hil/PROTOCOL.md): the FPGA end of hil.codec.
//
// Encoder (s_axis_enc -> m_axis_enc), twin of hil.codec.encode_frame: takes a raw frame without
// its CRC (header | payload bytes, tlast on the last one), appends the CRC-32C (Castagnoli,
// reflected 0x82F63B78, init and final xor 0xFFFFFFFF, little-endian), COBS-encodes the result
// and ends it with the 0x00 delimiter (tlast).
//
// Decoder (s_axis_dec -> m_axis_dec), twin of hil.codec.decode_frame on each 0x00-delimited
// frame of the byte stream: outputs the decoded header | payload bytes of every non-empty frame;
// the last beat has tlast and tuser = the E_* code of hil.protocol (0 = E_OK), checked in the
// reference's order: encoded length > MAX_ENC (E_LENGTH), COBS run past the end (E_COBS), fewer
// than 12 decoded bytes (E_SHORT), CRC (E_CRC), version != 1 (E_VERSION), length field
// (E_LENGTH). The bytes of a frame with tuser != 0 are to be discarded (a frame shorter than 5
// decoded bytes is reported by a single beat).
module frame_codec #(
    parameter integer MAX_ENC = 4125   // hil.protocol.MAX_ENCODED
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] s_axis_enc_tdata,
    input  wire       s_axis_enc_tlast,
    input  wire       s_axis_enc_tvalid,
    output wire       s_axis_enc_tready,
    output wire [7:0] m_axis_enc_tdata,
    output wire       m_axis_enc_tlast,
    output wire       m_axis_enc_tvalid,
    input  wire       m_axis_enc_tready,
    input  wire [7:0] s_axis_dec_tdata,
    input  wire       s_axis_dec_tvalid,
    output wire       s_axis_dec_tready,
    output wire [7:0] m_axis_dec_tdata,
    output wire       m_axis_dec_tlast,
    output wire [2:0] m_axis_dec_tuser,
    output wire       m_axis_dec_tvalid,
    input  wire       m_axis_dec_tready
);
    frame_encoder u_enc (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_enc_tdata), .s_axis_tlast(s_axis_enc_tlast),
        .s_axis_tvalid(s_axis_enc_tvalid), .s_axis_tready(s_axis_enc_tready),
        .m_axis_tdata(m_axis_enc_tdata), .m_axis_tlast(m_axis_enc_tlast),
        .m_axis_tvalid(m_axis_enc_tvalid), .m_axis_tready(m_axis_enc_tready)
    );
    frame_decoder #(.MAX_ENC(MAX_ENC)) u_dec (
        .clk(clk), .rst(rst),
        .s_axis_tdata(s_axis_dec_tdata), .s_axis_tvalid(s_axis_dec_tvalid),
        .s_axis_tready(s_axis_dec_tready),
        .m_axis_tdata(m_axis_dec_tdata), .m_axis_tlast(m_axis_dec_tlast),
        .m_axis_tuser(m_axis_dec_tuser), .m_axis_tvalid(m_axis_dec_tvalid),
        .m_axis_tready(m_axis_dec_tready)
    );
endmodule


// CRC-32C of one more byte, reflected form (register not inverted: caller handles init/final)
module crc32c_byte (
    input  wire [31:0] crc_in,
    input  wire [7:0]  data,
    output reg  [31:0] crc_out
);
    integer k;
    always @* begin
        crc_out = crc_in ^ {24'd0, data};
        for (k = 0; k < 8; k = k + 1)
            crc_out = crc_out[0] ? ((crc_out >> 1) ^ 32'h82F63B78) : (crc_out >> 1);
    end
endmodule


// CRC append + COBS encode + delimiter. COBS puts each block's length before the block, so the
// bytes of a block (up to 254 non-zero bytes) wait in a 512-byte ring until the block closes;
// closed blocks queue as (length, trailer) descriptors, and the emitter sends code byte, data and
// trailer from the ring while the next blocks are collected: about one byte per cycle.
module frame_encoder (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] s_axis_tdata,
    input  wire       s_axis_tlast,
    input  wire       s_axis_tvalid,
    output wire       s_axis_tready,
    output reg  [7:0] m_axis_tdata,
    output wire       m_axis_tlast,
    output wire       m_axis_tvalid,
    input  wire       m_axis_tready
);
    // ---- CRC append: frame bytes pass through, then the 4 CRC bytes
    reg        crc_mode;
    reg [1:0]  crc_idx;
    reg [31:0] crc;
    wire [31:0] crc_next;
    wire [31:0] crc_final = ~crc;
    crc32c_byte u_crc (.crc_in(crc), .data(s_axis_tdata), .crc_out(crc_next));

    wire       col_ready;
    wire       col_valid = crc_mode ? 1'b1 : s_axis_tvalid;
    wire [7:0] col_byte  = crc_mode ? crc_final[8*crc_idx +: 8] : s_axis_tdata;
    wire       col_last  = crc_mode && (crc_idx == 2'd3);
    wire       col_fire  = col_valid && col_ready;
    assign s_axis_tready = !crc_mode && col_ready;

    always @(posedge clk) begin
        if (rst) begin
            crc_mode <= 1'b0;
            crc_idx <= 2'd0;
            crc <= 32'hFFFFFFFF;
        end else if (col_fire) begin
            if (!crc_mode) begin
                crc <= crc_next;
                crc_mode <= s_axis_tlast;
            end else begin
                crc_idx <= crc_idx + 2'd1;
                if (crc_idx == 2'd3) begin
                    crc_mode <= 1'b0;
                    crc <= 32'hFFFFFFFF;
                end
            end
        end
    end

    // ---- COBS block collector: data bytes into the ring, closed blocks into the queue
    reg  [7:0] mem [0:511];
    reg  [9:0] wptr, rptr;    // ring pointers with a wrap bit
    reg  [7:0] wlen;          // non-zero bytes in the open block
    reg  [9:0] dq [0:7];      // closed blocks: {length, trailer}
    reg  [3:0] dq_w, dq_r;
    wire ring_full = (wptr - rptr) == 10'd512;
    wire dq_full   = (dq_w - dq_r) == 4'd8;
    wire dq_empty  = (dq_w == dq_r);
    assign col_ready = !ring_full && !dq_full;

    wire [7:0] nl = wlen + 8'd1;
    // a zero byte or 254 data bytes close the block; the frame's last byte closes it too, and
    // when that block was closed by a zero or by being full an empty block (code 0x01) follows.
    // Trailer: 0 nothing, 1 delimiter, 2 code 0x01 + delimiter.
    wire close_zero = (col_byte == 8'd0);
    wire close_full = !close_zero && (nl == 8'd254);
    wire close      = close_zero || close_full || col_last;
    wire [7:0] close_len = close_zero ? wlen : nl;
    wire [1:0] close_tr  = !col_last ? 2'd0 : ((close_zero || close_full) ? 2'd2 : 2'd1);

    // ---- emitter: code byte, then the block's bytes from the ring, then the trailer
    reg  [8:0] pos;
    wire [9:0] head = dq[dq_r[2:0]];
    wire [7:0] elen = head[9:2];
    wire [1:0] etr  = head[1:0];
    wire [8:0] epos_end = {1'b0, elen} + {7'd0, etr};
    assign m_axis_tvalid = !dq_empty;
    assign m_axis_tlast  = (etr != 2'd0) && (pos == epos_end);
    wire in_data = (pos != 9'd0) && (pos <= {1'b0, elen});
    always @* begin
        if (pos == 9'd0)
            m_axis_tdata = elen + 8'd1;
        else if (in_data)
            m_axis_tdata = mem[rptr[8:0]];
        else if (pos == {1'b0, elen} + 9'd1 && etr == 2'd2)
            m_axis_tdata = 8'h01;
        else
            m_axis_tdata = 8'h00;
    end
    wire out_fire = m_axis_tvalid && m_axis_tready;

    always @(posedge clk) begin
        if (col_fire && !close_zero)
            mem[wptr[8:0]] <= col_byte;
        if (col_fire && close)
            dq[dq_w[2:0]] <= {close_len, close_tr};
    end

    always @(posedge clk) begin
        if (rst) begin
            wptr <= 10'd0;
            rptr <= 10'd0;
            wlen <= 8'd0;
            dq_w <= 4'd0;
            dq_r <= 4'd0;
            pos <= 9'd0;
        end else begin
            if (out_fire) begin
                if (in_data)
                    rptr <= rptr + 10'd1;
                if (pos == epos_end) begin
                    pos <= 9'd0;
                    dq_r <= dq_r + 4'd1;
                end else begin
                    pos <= pos + 9'd1;
                end
            end
            if (col_fire) begin
                if (!close_zero)
                    wptr <= wptr + 10'd1;
                if (close) begin
                    dq_w <= dq_w + 4'd1;
                    wlen <= 8'd0;
                end else begin
                    wlen <= nl;
                end
            end
        end
    end
endmodule


// COBS decode + CRC/version/length checks of 0x00-delimited frames. A 4-byte window holds the
// bytes that may be the CRC; the byte before it is held back so the frame's last header/payload
// byte can carry tlast and the verdict.
module frame_decoder #(
    parameter integer MAX_ENC = 4125
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] s_axis_tdata,
    input  wire       s_axis_tvalid,
    output wire       s_axis_tready,
    output reg  [7:0] m_axis_tdata,
    output reg        m_axis_tlast,
    output reg  [2:0] m_axis_tuser,
    output reg        m_axis_tvalid,
    input  wire       m_axis_tready
);
    localparam [2:0] E_OK = 3'd0, E_COBS = 3'd1, E_SHORT = 3'd2, E_CRC = 3'd3,
                     E_VERSION = 3'd4, E_LENGTH = 3'd5;
    localparam integer CNT_MAX = 8191;

    // output register: one input byte makes at most one output beat
    assign s_axis_tready = !m_axis_tvalid || m_axis_tready;
    wire in_fire = s_axis_tvalid && s_axis_tready;
    wire delim   = (s_axis_tdata == 8'd0);

    // COBS state
    reg [7:0]  run;           // data bytes left in the current block
    reg        in_frame;      // at least one byte of this frame seen
    reg        zero_due;      // the previous block ends in a zero if more bytes follow
    reg [12:0] n_enc;         // encoded bytes (saturating)
    // decoded byte of this input byte, if any: a code byte yields the previous block's zero
    wire       is_code  = (run == 8'd0);
    wire       dec_ok   = is_code ? zero_due : 1'b1;
    wire [7:0] dec_byte = is_code ? 8'd0 : s_axis_tdata;

    // decoded-byte pipeline
    reg [12:0] m;             // decoded bytes (saturating)
    reg [7:0]  w0, w1, w2, w3;  // last four decoded bytes, w0 newest
    reg        h_valid;       // held byte (the one before w3)
    reg [7:0]  h;
    reg [31:0] crc;
    reg [7:0]  ver, len_lo, len_hi;
    wire [31:0] crc_next;
    crc32c_byte u_crc (.crc_in(crc), .data(w3), .crc_out(crc_next));

    // verdict at the delimiter
    wire [31:0] stored = {w0, w1, w2, w3};
    wire [12:0] len_field = {len_hi[4:0], len_lo};
    wire len_big = (len_hi[7:5] != 3'd0);
    reg  [2:0] verdict;
    always @* begin
        if (n_enc > MAX_ENC[12:0])
            verdict = E_LENGTH;
        else if (run != 8'd0)
            verdict = E_COBS;
        else if (m < 13'd12)
            verdict = E_SHORT;
        else if (~crc != stored)
            verdict = E_CRC;
        else if (ver != 8'd1)
            verdict = E_VERSION;
        else if (len_big || len_field != m - 13'd12)
            verdict = E_LENGTH;
        else
            verdict = E_OK;
    end

    always @(posedge clk) begin
        if (rst) begin
            run <= 8'd0;
            in_frame <= 1'b0;
            zero_due <= 1'b0;
            n_enc <= 13'd0;
            m <= 13'd0;
            h_valid <= 1'b0;
            crc <= 32'hFFFFFFFF;
            m_axis_tvalid <= 1'b0;
        end else begin
            if (m_axis_tvalid && m_axis_tready)
                m_axis_tvalid <= 1'b0;
            if (in_fire) begin
                if (delim) begin
                    if (in_frame) begin
                        m_axis_tvalid <= 1'b1;
                        m_axis_tdata <= h_valid ? h : 8'd0;
                        m_axis_tlast <= 1'b1;
                        m_axis_tuser <= verdict;
                    end
                    run <= 8'd0;
                    in_frame <= 1'b0;
                    zero_due <= 1'b0;
                    n_enc <= 13'd0;
                    m <= 13'd0;
                    h_valid <= 1'b0;
                    crc <= 32'hFFFFFFFF;
                end else begin
                    in_frame <= 1'b1;
                    if (n_enc != CNT_MAX[12:0])
                        n_enc <= n_enc + 13'd1;
                    if (is_code) begin
                        run <= s_axis_tdata - 8'd1;
                        zero_due <= (s_axis_tdata != 8'hFF);
                    end else begin
                        run <= run - 8'd1;
                    end
                    if (dec_ok) begin
                        if (m != CNT_MAX[12:0])
                            m <= m + 13'd1;
                        if (m == 13'd1) ver <= dec_byte;
                        if (m == 13'd2) len_lo <= dec_byte;
                        if (m == 13'd3) len_hi <= dec_byte;
                        {w3, w2, w1, w0} <= {w2, w1, w0, dec_byte};
                        if (m >= 13'd4) begin  // w3 leaves the CRC window
                            crc <= crc_next;
                            h <= w3;
                            h_valid <= 1'b1;
                            if (h_valid) begin
                                m_axis_tvalid <= 1'b1;
                                m_axis_tdata <= h;
                                m_axis_tlast <= 1'b0;
                                m_axis_tuser <= E_OK;
                            end
                        end
                    end
                end
            end
        end
    end
endmodule
`default_nettype wire
