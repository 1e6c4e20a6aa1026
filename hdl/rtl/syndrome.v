`default_nettype none
// Streaming syndrome s = H x (mod 2) of a quasi-cyclic LDPC code.
//
// Twin of postproc.reconcile.qc.qc_syndrome(base, Z, bits). The code is an MB x NB exponent
// matrix E with lifting Z: block (i, j) is zero (E = -1) or the Z x Z identity rotated by E[i,j],
// so that syndrome bit i*Z + r collects frame bit j*Z + (r + E[i,j]) mod Z.
//
// In:  one Z-bit block column per beat, NB beats per frame (bit c of beat j = frame bit j*Z + c).
// Out: MB beats of Z bits per frame (bit r of beat i = syndrome bit i*Z + r), tlast on the last.
// One block column per cycle; the syndrome of a frame drains while the next frame accumulates.
// SHIFTS holds E row-major, entry (i, j) in bits [(i*NB + j)*SW +: SW] as E + 1 (0 = zero block).
module syndrome #(
    parameter integer Z = 16,
    parameter integer MB = 3,
    parameter integer NB = 6,
    parameter integer SW = 6,
    parameter [MB*NB*SW-1:0] SHIFTS = 0
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [Z-1:0] s_axis_tdata,
    input  wire         s_axis_tvalid,
    output wire         s_axis_tready,
    output wire [Z-1:0] m_axis_tdata,
    output wire         m_axis_tvalid,
    input  wire         m_axis_tready,
    output wire         m_axis_tlast
);
    localparam integer CW = (NB > 1) ? $clog2(NB) : 1;
    localparam integer RW = (MB > 1) ? $clog2(MB) : 1;
    localparam integer LAST_COL = NB - 1;
    localparam integer LAST_ROW = MB - 1;

    reg  [CW-1:0]   col;        // block column of the next input beat
    reg  [MB*Z-1:0] acc;        // running syndrome of the frame being received
    reg  [MB*Z-1:0] obuf;       // finished syndrome being sent
    reg             obuf_full;
    reg  [RW-1:0]   orow;       // block row of the next output beat
    wire [MB*Z-1:0] contrib;    // this beat's column, rotated into every block row

    wire last_col = (col == LAST_COL[CW-1:0]);
    // the last column moves the syndrome into obuf, so it waits until obuf is free
    assign s_axis_tready = !(last_col && obuf_full);
    wire in_fire  = s_axis_tvalid && s_axis_tready;
    wire out_fire = m_axis_tvalid && m_axis_tready;

    // every rotation is a Z-bit window of the doubled beat; the code decides which bits are used
    /* verilator lint_off UNUSEDSIGNAL */
    wire [2*Z-1:0] twice = {s_axis_tdata, s_axis_tdata};
    /* verilator lint_on UNUSEDSIGNAL */
    genvar i, j;
    generate
        for (i = 0; i < MB; i = i + 1) begin : g_row
            wire [Z-1:0] opt [0:NB-1];
            for (j = 0; j < NB; j = j + 1) begin : g_col
                localparam [SW-1:0] E = SHIFTS[(i*NB + j)*SW +: SW];
                // rotate right by E-1: bit r takes input bit (r + E - 1) mod Z
                if (E == 0) begin : g_zero
                    assign opt[j] = {Z{1'b0}};
                end else begin : g_rot
                    assign opt[j] = twice[E-1 +: Z];
                end
            end
            assign contrib[i*Z +: Z] = opt[col];
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            col <= 0;
            acc <= 0;
            obuf_full <= 1'b0;
            orow <= 0;
        end else begin
            if (out_fire) begin
                if (orow == LAST_ROW[RW-1:0]) begin
                    orow <= 0;
                    obuf_full <= 1'b0;
                end else begin
                    orow <= orow + 1'b1;
                end
            end
            if (in_fire) begin
                if (last_col) begin
                    col <= 0;
                    acc <= 0;
                    obuf <= acc ^ contrib;
                    obuf_full <= 1'b1;
                end else begin
                    col <= col + 1'b1;
                    acc <= acc ^ contrib;
                end
            end
        end
    end

    assign m_axis_tvalid = obuf_full;
    assign m_axis_tdata  = obuf[orow*Z +: Z];
    assign m_axis_tlast  = (orow == LAST_ROW[RW-1:0]);
endmodule
`default_nettype wire
