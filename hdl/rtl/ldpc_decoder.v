`default_nettype none
// the arithmetic relies on Verilog context widths (sign extension); rotations use half of a
// doubled vector
/* verilator lint_off WIDTH */
/* verilator lint_off UNUSEDSIGNAL */
// Layered fixed-point min-sum decoder of a QC-LDPC code, towards a target syndrome.
//
// Twin of postproc.reconcile.decoder.decode_layered_fixed(base, Z, llr, syndrome, max_iter,
// post_bits=PB, msg_bits=MBITS, norm_num, norm_shift, offset): same schedule, widths, symmetric
// saturation, tie rule and stopping rule, so decoded bits, iteration count and success flag match
// bit for bit. The Z rows of a layer are processed in parallel, one block entry per cycle:
// pass 1 (Q = sat(L - R), min1/min2/first-min index/parity), pass 2 (R and L update), and after
// each iteration a syndrome check of the hard decisions, one block entry per cycle.
//
// The code comes as its list of nonzero blocks in layer order (row-major, increasing block
// column): entry e has block column ENT_COL[e*CW +: CW], shift ENT_SH[e*SW +: SW], and ENT_LAST[e]
// marks the last entry of its block row. Every block row needs at least one entry.
//
// s_axis_synd: MB beats of Z syndrome bits (bit r of beat i = s[i*Z + r]).
// s_axis_llr:  NB beats of Z signed IW-bit LLRs (element r of beat j = llr[j*Z + r]).
// m_axis:      NB beats of Z hard decisions, tlast on the last; tuser = {converged, iterations}.
// Requires ((2**(MBITS-1) - 1) * NORM_NUM) >> NORM_SHIFT <= 2**(PB-1) - 1 (messages fit PB bits).
module ldpc_decoder #(
    parameter integer Z = 8,
    parameter integer MB = 3,
    parameter integer NB = 6,
    parameter integer N_ENT = 12,
    parameter integer DMAX = 4,
    parameter integer CW = 3,
    parameter integer SW = 3,
    parameter [N_ENT*CW-1:0] ENT_COL = 0,
    parameter [N_ENT*SW-1:0] ENT_SH = 0,
    parameter [N_ENT-1:0] ENT_LAST = 0,
    parameter integer PB = 8,
    parameter integer MBITS = 6,
    parameter integer IW = 10,
    parameter integer NORM_NUM = 3,
    parameter integer NORM_SHIFT = 2,
    parameter integer OFFSET = 0,
    parameter integer MAX_ITER = 20,
    parameter integer ITW = 8
) (
    input  wire            clk,
    input  wire            rst,
    input  wire [Z-1:0]    s_axis_synd_tdata,
    input  wire            s_axis_synd_tvalid,
    output wire            s_axis_synd_tready,
    input  wire [Z*IW-1:0] s_axis_llr_tdata,
    input  wire            s_axis_llr_tvalid,
    output wire            s_axis_llr_tready,
    output wire [Z-1:0]    m_axis_tdata,
    output wire            m_axis_tlast,
    output wire [ITW:0]    m_axis_tuser,
    output wire            m_axis_tvalid,
    input  wire            m_axis_tready
);
    localparam integer PMAX = (1 << (PB - 1)) - 1;
    localparam integer MMAX = (1 << (MBITS - 1)) - 1;
    localparam integer AW = MBITS - 1;                       // message magnitude bits
    localparam integer EW = (N_ENT > 1) ? $clog2(N_ENT) : 1;
    localparam integer KW = (DMAX > 1) ? $clog2(DMAX) : 1;
    localparam integer LW = (MB > 1) ? $clog2(MB) : 1;
    localparam integer JW = (NB > 1) ? $clog2(NB + 1) : 1;
    localparam integer IW2 = (MB > 1) ? $clog2(MB + 1) : 1;
    localparam [2:0] S_LOAD = 3'd0, S_P1 = 3'd1, S_P2 = 3'd2, S_CHK = 3'd3, S_OUT = 3'd4;

    reg [2:0] state;
    reg [Z-1:0]    smem [0:MB-1];
    reg [Z*PB-1:0] lmem [0:NB-1];
    reg [Z*PB-1:0] rmem [0:N_ENT-1];
    reg [Z*PB-1:0] qbuf [0:DMAX-1];
    reg [Z*AW-1:0] mn1, mn2;
    reg [Z*KW-1:0] idx;
    reg [Z-1:0]    par;
    reg [EW-1:0]   e, e_first;
    reg [KW-1:0]   k;
    reg [LW-1:0]   layer;
    reg [ITW-1:0]  it;
    reg [Z-1:0]    acc;
    reg [IW2-1:0]  scnt;
    reg [JW-1:0]   lcnt;
    reg [JW-1:0]   oj;
    reg            conv;
    reg [ITW-1:0]  iters;

    // ---- current entry
    wire [CW-1:0] col  = ENT_COL[e*CW +: CW];
    wire [SW-1:0] sh   = ENT_SH[e*SW +: SW];
    wire          last = ENT_LAST[e];
    wire [Z*PB-1:0] lword = lmem[col];
    // element r of lrot = element (r + sh) mod Z of lword
    wire [2*Z*PB-1:0] ltwice = {lword, lword} >> (sh * PB);
    wire [Z*PB-1:0]   lrot = ltwice[Z*PB-1:0];
    wire [Z*PB-1:0]   rold = (it == {ITW{1'b0}}) ? {Z*PB{1'b0}} : rmem[e];
    wire [Z*PB-1:0]   qk = qbuf[k];

    // hard decisions of lword, rotated like the syndrome: bit r = hard(lword[(r + sh) mod Z])
    wire [Z-1:0] hard_word;
    wire [Z-1:0] hard_out;
    wire [Z*PB-1:0] out_word = lmem[oj[JW-1:0]];
    genvar r;
    generate
        for (r = 0; r < Z; r = r + 1) begin : g_hard
            assign hard_word[r] = lword[r*PB + PB - 1];
            assign hard_out[r] = out_word[r*PB + PB - 1];
        end
    endgenerate
    wire [2*Z-1:0] htwice = {hard_word, hard_word} >> sh;
    wire [Z-1:0]   acc_next = acc ^ htwice[Z-1:0];

    // ---- per-row arithmetic
    wire [Z*PB-1:0] q_vec;        // pass 1: Q
    wire [Z*AW-1:0] mn1_n, mn2_n;
    wire [Z*KW-1:0] idx_n;
    wire [Z-1:0]    par_n;
    wire [Z*PB-1:0] rnew_vec;     // pass 2: R
    wire [Z*PB-1:0] lnew_vec;     // pass 2: L, in row order
    generate
        for (r = 0; r < Z; r = r + 1) begin : g_row
            // pass 1
            wire signed [PB-1:0] lv = lrot[r*PB +: PB];
            wire signed [PB-1:0] rv = rold[r*PB +: PB];
            wire signed [PB+1:0] d  = lv - rv;
            wire signed [PB-1:0] q  = (d > PMAX) ? PMAX[PB-1:0] :
                                      (d < -PMAX) ? -PMAX[PB-1:0] : d[PB-1:0];
            wire [PB-1:0] qabs = q[PB-1] ? -q : q;
            wire [AW-1:0] a  = (qabs > MMAX) ? MMAX[AW-1:0] : qabs[AW-1:0];
            wire [AW-1:0] m1 = mn1[r*AW +: AW];
            wire [AW-1:0] m2 = mn2[r*AW +: AW];
            wire [AW-1:0] hi = (m1 > a) ? m1 : a;
            assign q_vec[r*PB +: PB]  = q;
            assign mn1_n[r*AW +: AW]  = (a < m1) ? a : m1;
            assign mn2_n[r*AW +: AW]  = (hi < m2) ? hi : m2;
            assign idx_n[r*KW +: KW]  = (a < m1) ? k : idx[r*KW +: KW];
            assign par_n[r]           = par[r] ^ q[PB-1];
            // pass 2
            wire signed [PB-1:0] q2 = qk[r*PB +: PB];
            wire [AW-1:0] m   = (idx[r*KW +: KW] == k) ? m2 : m1;
            wire [AW+16:0] scaled = ({17'd0, m} * NORM_NUM) >> NORM_SHIFT;
            wire [PB-1:0] g   = (scaled > OFFSET) ? (scaled - OFFSET) : {PB{1'b0}};
            wire signed [PB-1:0] rn = (par[r] ^ q2[PB-1]) ? -g : g;
            wire signed [PB+1:0] s2 = q2 + rn;
            assign rnew_vec[r*PB +: PB] = rn;
            assign lnew_vec[r*PB +: PB] = (s2 > PMAX) ? PMAX[PB-1:0] :
                                          (s2 < -PMAX) ? -PMAX[PB-1:0] : s2[PB-1:0];
        end
    endgenerate
    // back to memory order: element (r + sh) mod Z of the word = lnew_vec element r
    wire [2*Z*PB-1:0] lback2 = {lnew_vec, lnew_vec} << (sh * PB);
    wire [Z*PB-1:0]   lback  = lback2[2*Z*PB-1:Z*PB];

    // ---- input saturation of the channel LLRs
    wire [Z*PB-1:0] llr_sat;
    generate
        for (r = 0; r < Z; r = r + 1) begin : g_in
            wire signed [IW-1:0] x = s_axis_llr_tdata[r*IW +: IW];
            assign llr_sat[r*PB +: PB] = (x > PMAX) ? PMAX[PB-1:0] :
                                         (x < -PMAX) ? -PMAX[PB-1:0] : x[PB-1:0];
        end
    endgenerate

    assign s_axis_synd_tready = (state == S_LOAD) && (scnt != MB[IW2-1:0]);
    assign s_axis_llr_tready  = (state == S_LOAD) && (lcnt != NB[JW-1:0]);
    wire synd_fire = s_axis_synd_tvalid && s_axis_synd_tready;
    wire llr_fire  = s_axis_llr_tvalid && s_axis_llr_tready;
    assign m_axis_tvalid = (state == S_OUT);
    assign m_axis_tdata  = hard_out;
    assign m_axis_tlast  = (oj == NB - 1);
    assign m_axis_tuser  = {conv, iters};

    // start a layer's pass 1: min1 = min2 = MMAX, index 0, parity = the layer's syndrome bits
    task start_layer(input [LW-1:0] li);
        begin
            mn1 <= {Z{MMAX[AW-1:0]}};
            mn2 <= {Z{MMAX[AW-1:0]}};
            idx <= {Z*KW{1'b0}};
            par <= smem[li];
            k <= {KW{1'b0}};
            state <= S_P1;
        end
    endtask

    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            scnt <= 0;
            lcnt <= 0;
            oj <= 0;
        end else begin
            case (state)
                S_LOAD: begin
                    if (synd_fire) begin
                        smem[scnt[LW-1:0]] <= s_axis_synd_tdata;
                        scnt <= scnt + 1'b1;
                    end
                    if (llr_fire) begin
                        lmem[lcnt] <= llr_sat;
                        lcnt <= lcnt + 1'b1;
                    end
                    if (scnt == MB[IW2-1:0] && lcnt == NB[JW-1:0]) begin
                        it <= 0;
                        e <= 0;
                        e_first <= 0;
                        layer <= 0;
                        start_layer(0);
                    end
                end
                S_P1: begin
                    qbuf[k] <= q_vec;
                    mn1 <= mn1_n;
                    mn2 <= mn2_n;
                    idx <= idx_n;
                    par <= par_n;
                    if (last) begin
                        e <= e_first;
                        k <= 0;
                        state <= S_P2;
                    end else begin
                        e <= e + 1'b1;
                        k <= k + 1'b1;
                    end
                end
                S_P2: begin
                    rmem[e] <= rnew_vec;
                    lmem[col] <= lback;
                    e <= e + 1'b1;
                    k <= k + 1'b1;
                    if (last) begin
                        if (layer == MB - 1) begin
                            e <= 0;
                            layer <= 0;
                            acc <= 0;
                            state <= S_CHK;
                        end else begin
                            layer <= layer + 1'b1;
                            e_first <= e + 1'b1;
                            start_layer(layer + 1'b1);
                        end
                    end
                end
                S_CHK: begin
                    e <= e + 1'b1;
                    acc <= acc_next;
                    if (last) begin
                        acc <= 0;
                        layer <= layer + 1'b1;
                        if (acc_next != smem[layer]) begin
                            // not yet a codeword of the syndrome: next iteration or give up
                            if (it == MAX_ITER - 1) begin
                                conv <= 1'b0;
                                iters <= MAX_ITER[ITW-1:0];
                                oj <= 0;
                                state <= S_OUT;
                            end else begin
                                it <= it + 1'b1;
                                e <= 0;
                                e_first <= 0;
                                layer <= 0;
                                start_layer(0);
                            end
                        end else if (layer == MB - 1) begin
                            conv <= 1'b1;
                            iters <= it + 1'b1;
                            oj <= 0;
                            state <= S_OUT;
                        end
                    end
                end
                default: begin  // S_OUT
                    if (m_axis_tvalid && m_axis_tready) begin
                        oj <= oj + 1'b1;
                        if (oj == NB - 1) begin
                            scnt <= 0;
                            lcnt <= 0;
                            state <= S_LOAD;
                        end
                    end
                end
            endcase
        end
    end
endmodule
`default_nettype wire
