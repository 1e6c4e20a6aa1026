`default_nettype none
// Streaming Toeplitz hash y = T x over GF(2), W key bits per clock, seed loaded as a stream.
//
// Twin of postproc.amplify.toeplitz.toeplitz_reference(key_bits, seed_bits, L): for a key of
// n bits x[0..n-1] and a seed of n + L - 1 bits r[0..], T[i, j] = r[j - i + L - 1] and
// y[i] = XOR_j T[i, j] x[j]. Key bit j meets column j of T, whose bit i is r[j + L - 1 - i].
//
// s_axis:      key, W bits per beat (bit k of beat b = x[b*W + k]), tlast on the last beat of a
//              key; n is a multiple of W and n >= L.
// s_axis_seed: seed, W bits per beat (bit t of beat s = r[s*W + t]); a key of k beats takes
//              k + ceil((L-1)/W) seed beats, the unused high bits of the last one are ignored.
// m_axis:      y, one L-bit beat per key (bit i = y[i]).
//
// The window buffer holds P = 1 + ceil((L-1)/W) seed beats (the L + W - 1 seed bits one key beat
// needs) plus one beat of look-ahead, so a key beat and a seed beat both move every cycle. A key
// of k beats takes k + P - 1 seed beats, so the seed stream sets the pace: (k + P - 1) / k cycles
// per key beat.
module toeplitz #(
    parameter integer W = 8,
    parameter integer L = 32
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] s_axis_tdata,
    input  wire         s_axis_tlast,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    input  wire [W-1:0] s_axis_seed_tdata,
    input  wire         s_axis_seed_tvalid,
    output wire         s_axis_seed_tready,
    output wire [L-1:0] m_axis_tdata,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready
);
    localparam integer P = 1 + (L - 1 + W - 1) / W;  // seed beats one key beat needs
    localparam integer SLOTS = P + 1;
    localparam integer CW = $clog2(SLOTS + 1);
    localparam [CW-1:0] P_C = P[CW-1:0];
    localparam [CW-1:0] SLOTS_C = SLOTS[CW-1:0];

    reg  [SLOTS*W-1:0] sbuf;      // seed beats, oldest in slot 0
    reg  [CW-1:0]      cnt;       // seed beats held
    reg  [L-1:0]       acc;
    reg  [L-1:0]       obuf;
    reg                obuf_full;

    // the last key beat moves acc into obuf, so it waits for obuf to be free
    assign s_axis_tready      = (cnt >= P_C) && !(s_axis_tlast && obuf_full);
    assign s_axis_seed_tready = (cnt < SLOTS_C);
    wire key_fire  = s_axis_tvalid && s_axis_tready;
    wire seed_fire = s_axis_seed_tvalid && s_axis_seed_tready;
    wire out_fire  = m_axis_tvalid && m_axis_tready;

    // acc ^= column(b*W + k) for every set key bit k of this beat; bit i of column b*W + k is
    // seed bit b*W + k + L - 1 - i, i.e. bit k of the window slice sbuf[L-1-i +: W]
    wire [L-1:0] acc_next;
    genvar i;
    generate
        for (i = 0; i < L; i = i + 1) begin : g_row
            assign acc_next[i] = acc[i] ^ (^(s_axis_tdata & sbuf[L-1-i +: W]));
        end
    endgenerate

    // a key beat retires one seed beat, the last beat of a key retires the whole window
    wire [CW-1:0] shift = !key_fire ? {CW{1'b0}} : (s_axis_tlast ? P_C : {{(CW-1){1'b0}}, 1'b1});
    wire [CW-1:0] cnt_after = cnt - shift;
    reg  [SLOTS*W-1:0] sbuf_next;
    always @* begin
        sbuf_next = sbuf >> (shift * W);
        if (seed_fire)
            sbuf_next[cnt_after*W +: W] = s_axis_seed_tdata;
    end

    always @(posedge clk) begin
        if (rst) begin
            cnt <= 0;
            acc <= 0;
            obuf_full <= 1'b0;
        end else begin
            sbuf <= sbuf_next;
            cnt <= cnt_after + {{(CW-1){1'b0}}, seed_fire};
            if (out_fire)
                obuf_full <= 1'b0;
            if (key_fire) begin
                if (s_axis_tlast) begin
                    obuf <= acc_next;
                    obuf_full <= 1'b1;
                    acc <= 0;
                end else begin
                    acc <= acc_next;
                end
            end
        end
    end

    assign m_axis_tvalid = obuf_full;
    assign m_axis_tdata  = obuf;
endmodule
`default_nettype wire
