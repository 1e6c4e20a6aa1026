`default_nettype none
// unused by construction: Alice's log bits other than the basis, the channel-map bits the kernel
// ignores, the sign position of |x|
/* verilator lint_off UNUSEDSIGNAL */
// Sifting kernel: detection (t, ch) -> slot index, gate, detector -> basis/bit, Alice's basis
// from a pattern memory -> keep. One detection per cycle, latency QW + 2 cycles.
//
// Twin of postproc.sift.kernel.sift_kernel(t, ch, t_anchor=, slot_anchor=, period_q16=,
// gate_lo_q16=, gate_hi_q16=, chmap=, alice_log=, log_start=), integer arithmetic as documented
// there: x = ((t - t_anchor) << 16) + (P >> 1), k = floor(x / P), r = x - k P - (P >> 1),
// slot = slot_anchor + k, gate = lo <= r < hi, flags = gate | det << 1 | basis << 2 | bit << 3 |
// keep << 4 | in_log << 5 with keep = gate & det & (Alice's basis of the slot == basis).
// The floor division is a pipelined restoring divider, one quotient bit per stage: with
// |t - t_anchor| < 2**46 and P >= 2**16 the quotient has at most QW = 47 bits.
//
// Configuration (hold it while detections flow): cfg_* ports, the 256-entry channel map and
// Alice's log (basis bit of slots log_start .. log_start + cfg_log_len - 1) through write ports.
// s_axis_tdata = {ch[15:0], t[63:0]} (two's complement); m_axis_tdata = slot, m_axis_tuser = flags.
module sifter #(
    parameter integer QW = 47,
    parameter integer LOGW = 10
) (
    input  wire        clk,
    input  wire        rst,
    input  wire [63:0] cfg_t_anchor,
    input  wire [63:0] cfg_slot_anchor,
    input  wire [47:0] cfg_period_q16,
    input  wire [63:0] cfg_gate_lo_q16,
    input  wire [63:0] cfg_gate_hi_q16,
    input  wire [63:0] cfg_log_start,
    input  wire [LOGW:0] cfg_log_len,
    input  wire        cfg_chmap_we,
    input  wire [7:0]  cfg_chmap_addr,
    input  wire [7:0]  cfg_chmap_data,
    input  wire        cfg_log_we,
    input  wire [LOGW-1:0] cfg_log_addr,
    input  wire [7:0]  cfg_log_data,
    input  wire [79:0] s_axis_tdata,
    input  wire        s_axis_tvalid,
    output wire        s_axis_tready,
    output reg  [63:0] m_axis_tdata,
    output reg  [7:0]  m_axis_tuser,
    output reg         m_axis_tvalid,
    input  wire        m_axis_tready
);
    localparam integer DW = QW + 16;          // dividend bits: x < 2**(QW+16)

    reg [7:0] chmap [0:255];
    reg       alice_basis [0:(1<<LOGW)-1];
    always @(posedge clk) begin
        if (cfg_chmap_we) chmap[cfg_chmap_addr] <= cfg_chmap_data;
        if (cfg_log_we) alice_basis[cfg_log_addr] <= cfg_log_data[1];
    end

    // the whole pipeline moves when its output is free or taken
    wire adv = !m_axis_tvalid || m_axis_tready;
    assign s_axis_tready = adv;
    wire in_fire = s_axis_tvalid && adv;

    // ---- stage 0: x, its sign, |x| for the unsigned divider, the channel map
    wire signed [63:0] t  = s_axis_tdata[63:0];
    wire signed [15:0] ch = s_axis_tdata[79:64];
    wire signed [63:0] d  = t - cfg_t_anchor;
    wire signed [63:0] x  = (d <<< 16) + {17'd0, cfg_period_q16[47:1]};
    // floor(x / P) for x < 0 is ~floor(~x / P) (~x = -x - 1 >= 0), with remainder P - 1 - rem
    wire [63:0] u = x[63] ? ~x : x;
    wire        in_map = (ch >= 0) && (ch <= 255);
    wire [7:0]  m = in_map ? chmap[ch[7:0]] : 8'd0;

    // stage s holds the partial remainder (< P) and a word whose high bits are the dividend bits
    // still to bring down and whose low bits are the quotient bits found so far
    reg [QW:0]    v;
    reg [QW-1:0]  rem  [0:QW];
    reg [QW-1:0]  quo  [0:QW];
    reg           neg  [0:QW];
    reg [7:0]     mm   [0:QW];
    wire [QW-1:0] pq = cfg_period_q16[QW-1:0];

    always @(posedge clk) begin
        if (rst)
            v <= 0;
        else if (adv)
            v <= {v[QW-1:0], in_fire};
        if (adv) begin
            // load: the top 16 dividend bits are below P >= 2**16
            rem[0] <= {{(QW-16){1'b0}}, u[DW-1:QW]};
            quo[0] <= u[QW-1:0];
            neg[0] <= x[63];
            mm[0]  <= m;
        end
    end

    genvar g;
    generate
        for (g = 1; g <= QW; g = g + 1) begin : g_div
            wire [QW:0] trial = {rem[g-1], quo[g-1][QW-1]};
            wire        take  = (trial >= {1'b0, pq});
            wire [QW:0] diff  = trial - {1'b0, pq};
            always @(posedge clk) begin
                if (adv) begin
                    rem[g] <= take ? diff[QW-1:0] : trial[QW-1:0];
                    quo[g] <= {quo[g-1][QW-2:0], take};
                    neg[g] <= neg[g-1];
                    mm[g]  <= mm[g-1];
                end
            end
        end
    endgenerate

    // ---- last stage: k, r, slot, gate, Alice's basis, flags
    wire [63:0] q   = {{(64-QW){1'b0}}, quo[QW]};
    wire [63:0] k   = neg[QW] ? ~q : q;
    wire [63:0] P   = {16'd0, cfg_period_q16};
    wire [63:0] rr  = neg[QW] ? (P - 64'd1 - {{(64-QW){1'b0}}, rem[QW]}) : {{(64-QW){1'b0}}, rem[QW]};
    wire signed [63:0] r = rr - {17'd0, cfg_period_q16[47:1]};
    wire [63:0] slot = cfg_slot_anchor + k;
    wire gate = ($signed(cfg_gate_lo_q16) <= r) && (r < $signed(cfg_gate_hi_q16));
    wire [7:0] mk = mm[QW];
    wire [63:0] j = slot - cfg_log_start;     // in the log when 0 <= j < log_len (unsigned)
    wire in_log = (j < {{(63-LOGW){1'b0}}, cfg_log_len});
    wire a_basis = alice_basis[j[LOGW-1:0]];
    wire keep = in_log && gate && mk[7] && (a_basis == mk[1]);

    always @(posedge clk) begin
        if (rst) begin
            m_axis_tvalid <= 1'b0;
        end else if (adv) begin
            m_axis_tvalid <= v[QW];
            m_axis_tdata <= slot;
            m_axis_tuser <= {2'b00, in_log, keep, mk[0], mk[1], mk[7], gate};
        end
    end
endmodule
`default_nettype wire
